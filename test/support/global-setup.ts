import type { TestProject } from 'vitest/node';
import { isCi } from './ci.js';
import { hasRedisServer, REDIS_INSTALL_HINT, startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the run's private redis-server; empty when none could be started. */
    redisUrl: string;
  }
}

/**
 * Starts one private redis-server for the whole run (tests isolate themselves by key
 * prefix) and stops it afterwards. Without the binary the Redis-backed tests are skipped
 * with a hint, except under CI=true, where a missing Redis is a failure.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!hasRedisServer()) {
    if (isCi()) throw new Error(`CI=true and ${REDIS_INSTALL_HINT}`);
    console.warn(`\n${REDIS_INSTALL_HINT}\nThe Redis-backed tests are skipped.\n`);
    project.provide('redisUrl', '');
    return async () => {};
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
