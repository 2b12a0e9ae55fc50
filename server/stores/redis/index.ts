import { createRedactor } from '../../audit/redact.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditLogOptions } from '../../audit/types.js';
import type { Clock } from '../../clock.js';
import type { Stores } from '../types.js';
import { connectRedis, guarded, requireRedisVersion, waitReady } from './connection.js';
import {
  RedisApiTokenStore,
  RedisAssertionReplayCache,
  RedisLoginSessionStore,
  RedisOneTimeValues,
} from './identity-stores.js';
import { RedisLeaseStore } from './lease-store.js';
import { StreamAuditLog } from './stream-audit-log.js';
import { RedisAccessStore } from './access-store.js';
import { RedisEventBus } from './event-bus.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  clock: Clock;
  redact?: Redactor;
  audit?: AuditLogOptions;
}

/** Shared stores for several instances. Keys are prefixed here, not by ioredis, so every command (streams included) is covered. */
export function createRedisStores(options: RedisStoreOptions): Stores {
  const redis = connectRedis(options);
  const { clock, keyPrefix: prefix } = options;
  const audit = new StreamAuditLog(redis, clock, prefix, options, options.redact ?? createRedactor(), options.audit ?? { retention: false });
  const events = new RedisEventBus(redis, `${prefix}events:`, options.connectTimeoutMs);
  return {
    kind: 'redis',
    sessions: new RedisLoginSessionStore(redis, clock, prefix),
    tokens: new RedisApiTokenStore(redis, clock, prefix),
    samlRequests: new RedisOneTimeValues(redis, clock, `${prefix}saml-request:`),
    cliLoginCodes: new RedisOneTimeValues(redis, clock, `${prefix}cli-login-code:`),
    assertionReplay: new RedisAssertionReplayCache(redis, clock, prefix),
    leases: new RedisLeaseStore(redis, clock, prefix),
    audit,
    access: new RedisAccessStore(redis, clock, prefix),
    events,
    ping: async () => {
      await guarded('ping', () => redis.ping());
    },
    waitReady: async () => {
      await waitReady(redis, options.connectTimeoutMs);
      await requireRedisVersion(redis);
    },
    close: async () => {
      audit.close();
      events.close();
      redis.disconnect();
    },
  };
}
