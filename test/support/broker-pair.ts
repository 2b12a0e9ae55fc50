import { systemClock } from '../../server/clock.js';
import { brokerConfig, startBroker } from './broker-fixture.js';
import type { BrokerFixture } from './broker-fixture.js';
import { redisStoresForTest, uniquePrefix } from './redis.js';
import { startTestServer } from './test-server.js';
import type { TestServer } from './test-server.js';

/** Two instances on one Redis (a fresh prefix): `a` a full fixture, `b` a second broker on the same stores and config. */
export async function startBrokerPair(overrides: Record<string, unknown>, scimToken?: string): Promise<{ a: BrokerFixture; b: TestServer; close: () => Promise<void> }> {
  const prefix = uniquePrefix();
  const a = await startBroker({ overrides, stores: await redisStoresForTest({ prefix, clock: systemClock }), scimToken });
  const b = await startTestServer({ config: brokerConfig(a.idp, overrides, scimToken), stores: await redisStoresForTest({ prefix, clock: systemClock }), clock: systemClock });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}
