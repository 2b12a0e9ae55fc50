import { InvalidInputError } from '../../errors.js';
import { createRedactor } from '../../audit/redact.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditLogOptions } from '../../audit/types.js';
import type { Clock } from '../../clock.js';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { FlexibleRateLimits } from '../flexible-rate-limits.js';
import { ONE_TIME_VALUE_CAPACITY, SCIM_RESOURCE_CAPACITY, SUPPRESSION_CAPACITY, TOOL_PIN_CAPACITY, USER_DIRECTORY_CAPACITY } from '../types.js';
import type { Stores } from '../types.js';
import { connectRedis, durableWrites, guarded, requireNoEviction, requireRedisVersion, waitReady } from './connection.js';
import type { RedisConnectionOptions, ReplicaDurability } from './connection.js';
import { checkKeyPrefix } from './keys.js';
import {
  RedisApiTokenStore,
  RedisAssertionReplayCache,
  RedisLoginSessionStore,
  RedisOneTimeValues,
} from './identity-stores.js';
import { RedisLeaseStore } from './lease-store.js';
import { redisOAuthStores } from './oauth-stores.js';
import { redisScimStore } from './scim-store.js';
import { RedisUserDirectory } from './user-directory.js';
import { StreamAuditLog } from './stream-audit-log.js';
import { RedisAccessStore } from './access-store.js';
import { RedisAnomalyStore } from './anomaly-store.js';
import { RedisEventBus } from './event-bus.js';
import { RedisToolPinStore } from './tool-pin-store.js';
import { RedisDetectorStateStore } from './detector-state-store.js';
import { RedisNotificationStore } from './notification-store.js';
import { RedisExportCursorStore } from './export-cursor-store.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  keyPrefix: string;
  /** Replicas that must acknowledge each audit append and each revocation before it resolves (absent: the primary's answer is enough). */
  durability?: ReplicaDurability;
  clock: Clock;
  redact?: Redactor;
  audit?: AuditLogOptions;
  /** Live values per one-time value store (default ONE_TIME_VALUE_CAPACITY). */
  oneTimeValueCapacity?: number;
  /** Tools pinned per server at most (default TOOL_PIN_CAPACITY). */
  toolPinCapacity?: number;
  /** Live anomaly suppressions at most (default SUPPRESSION_CAPACITY). */
  suppressionCapacity?: number;
  /** Users the directory keeps at most (default USER_DIRECTORY_CAPACITY). */
  userDirectoryCapacity?: number;
}

/**
 * Shared stores for several instances, on one Redis, behind Sentinel or on a Cluster. Keys
 * are prefixed and hash-tagged here (keys.ts), not by ioredis, so every command (streams
 * included) is covered.
 */
export function createRedisStores(options: RedisStoreOptions): Stores {
  const badPrefix = checkKeyPrefix(options.keyPrefix);
  if (badPrefix) throw new InvalidInputError(badPrefix);
  const redis = connectRedis(options);
  const { clock, keyPrefix: prefix } = options;
  const capacity = options.oneTimeValueCapacity ?? ONE_TIME_VALUE_CAPACITY;
  const durable = durableWrites(redis, options.durability);
  const audit = new StreamAuditLog(redis, clock, prefix, options, options.redact ?? createRedactor(), options.audit ?? { retention: false });
  const events = new RedisEventBus(redis, `${prefix}events:`, options.connectTimeoutMs);
  return {
    kind: 'redis',
    sessions: new RedisLoginSessionStore(redis, clock, prefix, durable),
    tokens: new RedisApiTokenStore(redis, clock, prefix, durable),
    samlRequests: new RedisOneTimeValues(redis, clock, prefix, 'saml-request', capacity),
    cliLoginCodes: new RedisOneTimeValues(redis, clock, prefix, 'cli-login-code', capacity),
    oidcRequests: new RedisOneTimeValues(redis, clock, prefix, 'oidc-request', capacity),
    samlKeySets: new RedisOneTimeValues(redis, clock, prefix, 'saml-key-set', capacity),
    cursorKeys: new RedisOneTimeValues(redis, clock, prefix, 'cursor-key', capacity),
    assertionReplay: new RedisAssertionReplayCache(redis, clock, prefix),
    oauth: redisOAuthStores(redis, clock, prefix, capacity, durable),
    leases: new RedisLeaseStore(redis, clock, prefix),
    rateLimits: new FlexibleRateLimits(
      ({ name, points, duration }) =>
        // ioredis (not node-redis); no call while disconnected (the offline queue is off);
        // a key over its budget is refused from memory until its window ends, so a flood
        // costs one Redis round trip per client and window on each instance, not one per request.
        new RateLimiterRedis({
          storeClient: redis,
          useRedisPackage: false,
          rejectIfRedisNotReady: true,
          keyPrefix: `${prefix}rate-limit:${name}`,
          points,
          duration,
          inMemoryBlockOnConsumed: points + 1,
        }),
      (work) => guarded('rate limit', work),
    ),
    audit,
    access: new RedisAccessStore(redis, clock, prefix, durable),
    toolPins: new RedisToolPinStore(redis, prefix, options.toolPinCapacity ?? TOOL_PIN_CAPACITY),
    detector: new RedisDetectorStateStore(redis, clock, prefix),
    notifications: new RedisNotificationStore(redis, clock, prefix),
    exportCursors: new RedisExportCursorStore(redis, prefix),
    anomalies: new RedisAnomalyStore(redis, clock, prefix, options.suppressionCapacity ?? SUPPRESSION_CAPACITY),
    scim: redisScimStore(redis, prefix, SCIM_RESOURCE_CAPACITY),
    directory: new RedisUserDirectory(redis, clock, prefix, options.userDirectoryCapacity ?? USER_DIRECTORY_CAPACITY),
    events,
    ping: async () => {
      await guarded('ping', () => redis.ping());
    },
    waitReady: async () => {
      await waitReady(redis, options.connectTimeoutMs);
      await requireRedisVersion(redis);
      await requireNoEviction(redis);
      await audit.refuseLegacyLayout();
    },
    close: async () => {
      audit.close();
      events.close();
      redis.disconnect();
    },
  };
}
