import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessFixture, user, PEOPLE } from '../support/access-fixture.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { requestRecord } from '../stores/store-contract.js';

/**
 * A listing reads at most 2,000 records per page. When the budget runs out among requests
 * the caller may not see, the cursor it answers with must not name the last one read (its
 * id and the millisecond it was filed), yet paging must still go on past them.
 */

const backends: Backend[] = sharedRedisUrl ? ['embedded', 'redis'] : ['embedded'];
/** More of frank's requests than one page may read, all filed in one millisecond. */
const OTHERS = 2100;

/** Alice files one request, frank OTHERS, then alice one more: newest first, alice's second request leads and her first trails. */
async function seed(fx: AccessFixture): Promise<{ othersFiledAt: number; otherIds: string[] }> {
  const alice = user('alice', [...PEOPLE.alice]);
  const frank = user('frank', [...PEOPLE.frank]);
  await fx.stores.access.createRequest(requestRecord(randomUUID(), fx.clock, { requester: alice, reason: 'first' }));
  fx.clock.advance(1);
  const othersFiledAt = fx.clock.now();
  const otherIds = Array.from({ length: OTHERS }, () => randomUUID());
  for (let i = 0; i < OTHERS; i += 300) await Promise.all(otherIds.slice(i, i + 300).map((id) => fx.stores.access.createRequest(requestRecord(id, fx.clock, { requester: frank }))));
  fx.clock.advance(1);
  await fx.stores.access.createRequest(requestRecord(randomUUID(), fx.clock, { requester: alice, reason: 'second' }));
  return { othersFiledAt, otherIds };
}

const reasons = (page: { items: { reason: string }[] }) => page.items.map((r) => r.reason);

describe.each(backends)('request listings past requests the caller may not see (%s store)', (backend) => {
  const open: AccessFixture[] = [];
  afterAll(async () => {
    await Promise.all(open.map((fx) => fx.stores.close()));
  });
  const fixture = async (options: { prefix?: string } = {}) => {
    const fx = await accessFixture(backend, options);
    open.push(fx);
    return fx;
  };
  let fx: AccessFixture;
  let seeded: { othersFiledAt: number; otherIds: string[] };
  beforeAll(async () => {
    fx = await fixture();
    seeded = await seed(fx);
  }, 60_000);

  it("answers with a cursor naming none of another user's requests, nor when they were filed, and goes on from it", async () => {
    const page = await fx.access.listRequests(fx.as('alice'), { first: 5 });
    expect(reasons(page)).toEqual(['second']);
    expect(page.hasNextPage).toBe(true);
    const cursor = page.endCursor!;
    expect(cursor).not.toContain(String(seeded.othersFiledAt));
    expect(seeded.otherIds.filter((id) => cursor.includes(id))).toEqual([]);
    const next = await fx.access.listRequests(fx.as('alice'), { first: 5, after: cursor });
    expect(reasons(next)).toEqual(['first']);
    expect(next.hasNextPage).toBe(false);
  });

  it('refuses that cursor altered or from another caller', async () => {
    const { endCursor } = await fx.access.listRequests(fx.as('alice'), { first: 5 });
    expect(endCursor).toMatch(/^~/);
    const sealed = endCursor!;
    const refusal = { code: 'INVALID_INPUT', field: 'after' };
    const altered = `${sealed.slice(0, 20)}${sealed[20] === 'A' ? 'B' : 'A'}${sealed.slice(21)}`;
    await expect(fx.access.listRequests(fx.as('alice'), { first: 5, after: altered })).rejects.toMatchObject(refusal);
    await expect(fx.access.listRequests(fx.as('frank'), { first: 5, after: sealed })).rejects.toMatchObject(refusal);
  });

  if (backend === 'redis') {
    it('opens on another instance over the same store, and on no other installation', async () => {
      const prefix = uniquePrefix();
      const issuing = await fixture({ prefix });
      await seed(issuing);
      const { endCursor } = await issuing.access.listRequests(issuing.as('alice'), { first: 5 });
      expect(endCursor).toMatch(/^~/);
      const sibling = await fixture({ prefix });
      expect(reasons(await sibling.access.listRequests(sibling.as('alice'), { first: 5, after: endCursor }))).toEqual(['first']);
      await expect(fx.access.listRequests(fx.as('alice'), { first: 5, after: endCursor })).rejects.toMatchObject({ code: 'INVALID_INPUT', field: 'after' });
    }, 60_000);
  }
});
