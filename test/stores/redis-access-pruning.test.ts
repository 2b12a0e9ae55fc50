import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitReady } from '../../server/stores/redis/connection.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { grantRecord, requestRecord } from './store-contract.js';

const DAY = 86_400_000;
/** More long grants than one write looks at per index (PRUNE_BATCH in server/stores/redis/access-store.ts). */
const LONG_GRANTS = 40;

describeWithRedis('Redis access listings: pruning ended entries, bounded per write', () => {
  const prefix = uniquePrefix();
  const clock = new ManualClock();
  let stores: Stores;
  let admin: Redis;
  beforeAll(async () => {
    stores = await redisStoresForTest({ prefix, clock });
    admin = new Redis(sharedRedisUrl);
    await waitReady(admin, 5_000);
  });
  afterAll(async () => {
    admin.disconnect();
    await stores.close();
  });

  const issue = async (id: string, days: number) => {
    const request = requestRecord(`r-${id}`, clock, { status: 'APPROVED', grantId: id, decidedAt: clock.now() });
    await stores.access.createRequest(request, grantRecord(id, request, clock, { expiresAt: clock.now() + days * DAY }));
  };
  const indexed = async () => (await admin.zrangebylex(`${prefix}{access}:grants`, '-', '+')).map((member) => member.slice(member.indexOf(':') + 1));

  it('goes on past the entries of long grants still in force at the bottom of an index, so the ended ones above them are pruned all the same', async () => {
    for (let i = 0; i < LONG_GRANTS; i++) await issue(`long-${String(i).padStart(2, '0')}`, 90);
    clock.advance(1000);
    for (let i = 0; i < 3; i++) await issue(`short-${i}`, 1);
    // The short grants ended 61 days ago and their 30 days of retention with them; the long ones are in force.
    clock.advance(62 * DAY);
    await issue('next-0', 1);
    // The first write looked at the 32 oldest entries only, all of them long grants in force.
    expect((await indexed()).filter((id) => id.startsWith('short-'))).toHaveLength(3);
    await issue('next-1', 1);
    const left = await indexed();
    expect(left.filter((id) => id.startsWith('short-'))).toEqual([]);
    expect(left.filter((id) => id.startsWith('long-'))).toHaveLength(LONG_GRANTS);
    // The sweep reached the end of what may have ended and starts over at the next write: it keeps no mark.
    expect(await admin.hlen(`${prefix}{access}:pruned-to`)).toBe(0);
  });
});
