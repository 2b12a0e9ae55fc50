import { createRedactor } from '../../audit/redact.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditLogOptions } from '../../audit/types.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Clock } from '../../clock.js';
import { FlexibleRateLimits } from '../flexible-rate-limits.js';
import { ONE_TIME_VALUE_CAPACITY } from '../types.js';
import type { Stores } from '../types.js';
import { EmbeddedAccessStore } from './access-store.js';
import { FileAuditLog } from './file-audit-log.js';
import { EmbeddedLeaseStore } from './lease-store.js';
import {
  EmbeddedApiTokenStore,
  EmbeddedAssertionReplayCache,
  EmbeddedLoginSessionStore,
  EmbeddedOneTimeValues,
} from './identity-stores.js';

/** Single-instance stores: state in memory, audit log in `dataDir`. */
export async function createEmbeddedStores(options: { dataDir: string; clock: Clock; redact?: Redactor; audit?: AuditLogOptions; oneTimeValueCapacity?: number }): Promise<Stores> {
  const audit = await FileAuditLog.open(options.dataDir, options.clock, options.redact ?? createRedactor(), options.audit ?? { retention: false });
  const sessions = new EmbeddedLoginSessionStore(options.clock);
  const tokens = new EmbeddedApiTokenStore(options.clock);
  const capacity = options.oneTimeValueCapacity ?? ONE_TIME_VALUE_CAPACITY;
  const samlRequests = new EmbeddedOneTimeValues(options.clock, capacity);
  const cliLoginCodes = new EmbeddedOneTimeValues(options.clock, capacity);
  const assertionReplay = new EmbeddedAssertionReplayCache(options.clock);
  return {
    kind: 'embedded',
    sessions,
    tokens,
    samlRequests,
    cliLoginCodes,
    assertionReplay,
    leases: new EmbeddedLeaseStore(options.clock),
    rateLimits: new FlexibleRateLimits(({ name, points, duration }) => new RateLimiterMemory({ keyPrefix: name, points, duration })),
    audit,
    access: new EmbeddedAccessStore(),
    events: new EventTarget(),
    ping: async () => audit.ping(),
    waitReady: async () => {},
    close: async () => {
      for (const store of [sessions, tokens, samlRequests, cliLoginCodes, assertionReplay]) store.close();
      await audit.close();
    },
  };
}
