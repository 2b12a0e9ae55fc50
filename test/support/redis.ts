import { randomUUID } from 'node:crypto';
import { describe, inject } from 'vitest';

/** The run's shared redis-server URL ('' when the binary is missing outside CI). */
export const sharedRedisUrl = inject('redisUrl');

/** describe() for suites that need Redis: skipped only when global setup allowed it. */
export const describeWithRedis = sharedRedisUrl ? describe : describe.skip;

/** A key prefix no other test uses, so tests share one server without seeing each other. */
export function uniquePrefix(): string {
  return `test:${randomUUID()}:`;
}
