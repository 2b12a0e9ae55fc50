import { describe } from 'vitest';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { systemClock } from '../../server/clock.js';
import { describeWithRedis, redisStoresForTest } from './redis.js';
import { startTestServer } from './test-server.js';
import type { TestServer } from './test-server.js';

export type StartServer = (config: PortcullisConfig) => Promise<TestServer>;

/**
 * Runs a suite against a broker on each store backend (embedded, then Redis), on real
 * time: what a user does through the CLI must work the same on both.
 */
export function describeOnEachStore(name: string, suite: (start: StartServer) => void): void {
  describe(`${name} (embedded store)`, () => suite((config) => startTestServer({ config, clock: systemClock })));
  describeWithRedis(`${name} (Redis store)`, () =>
    suite(async (config) => startTestServer({ config, clock: systemClock, stores: await redisStoresForTest({ clock: systemClock }) })),
  );
}
