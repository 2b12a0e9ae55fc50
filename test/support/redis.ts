import { randomUUID } from 'node:crypto';
import { describe, inject } from 'vitest';
import type { AuditLogOptions } from '../../server/audit/types.js';
import type { Clock } from '../../server/clock.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from './manual-clock.js';

/** The run's shared redis-server URL ('' when the binary is missing outside CI). */
export const sharedRedisUrl = inject('redisUrl');

/** describe() for suites that need Redis: skipped only when global setup allowed it. */
export const describeWithRedis = sharedRedisUrl ? describe : describe.skip;

/** A key prefix no other test uses, so tests share one server without seeing each other. */
export function uniquePrefix(): string {
  return `test:${randomUUID()}:`;
}

/**
 * Redis-backed stores for a test, connected and ready: the run's shared server unless a
 * private one is named, a fresh key prefix unless one is shared between "instances", and
 * short timeouts so failure tests fail fast.
 */
export async function redisStoresForTest(options: { url?: string; prefix?: string; clock?: Clock; fast?: boolean; audit?: AuditLogOptions } = {}): Promise<Stores> {
  const stores = createRedisStores({
    url: options.url ?? sharedRedisUrl,
    keyPrefix: options.prefix ?? uniquePrefix(),
    // Two seconds: a loaded 2-core machine running the whole suite can stall the shared Redis past one (a refused sign-in, not a bug).
    commandTimeoutMs: options.fast ? 500 : 2000,
    connectTimeoutMs: options.fast ? 1000 : 2000,
    clock: options.clock ?? new ManualClock(),
    audit: options.audit,
  });
  await stores.waitReady();
  return stores;
}
