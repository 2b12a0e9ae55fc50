import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrantRecord } from '../../server/access/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';

const SESSIONS = 3;
/** Longer than the revalidation interval (1 s): a walk is still reading when the next is due. */
const SLOW_READ_MS = 2_500;

/**
 * The revalidation walk, the backstop for revocations pub/sub dropped: sessions sharing a
 * grant read it once per walk, and a walk still under way when the next is due (a stalled
 * store) is not joined by another; every session is still reached.
 */
describe('revalidation walks', () => {
  let fx: BrokerFixture;
  let grantId: string;
  const closed: string[] = [];

  beforeAll(async () => {
    fx = await startBroker({ overrides: { broker: { revalidateIntervalSeconds: 1 } } });
    grantId = await fx.grant(['echo']);
    const token = await fx.token();
    for (let i = 0; i < SESSIONS; i++) {
      const { transport } = await fx.connect(token);
      transport.onclose = () => void closed.push(`session ${i}`);
    }
  });
  afterAll(() => fx.close());

  it('read a grant its sessions share once per walk, one walk at a time, and still reach every session', async () => {
    const access = fx.server.stores.access;
    const getGrant = access.getGrant.bind(access);
    let inFlight = 0;
    let mostInFlight = 0;
    let reads = 0;
    let revoked = false;
    access.getGrant = async (id) => {
      if (id !== grantId) return getGrant(id);
      reads++;
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        await sleep(SLOW_READ_MS);
        const grant = await getGrant(id);
        // Revoked in the store with no event: only the walk can find it.
        return revoked && grant ? ({ ...grant, revokedAt: Date.now(), revokedBy: 'test' } as GrantRecord) : grant;
      } finally {
        inFlight--;
      }
    };
    try {
      await sleep(2 * SLOW_READ_MS + 500);
      expect(reads).toBeGreaterThan(0);
      expect(mostInFlight).toBe(1);
      expect(closed).toEqual([]);

      revoked = true;
      await expect.poll(() => closed.length, { timeout: 4 * SLOW_READ_MS, interval: 100 }).toBe(SESSIONS);
      expect(mostInFlight).toBe(1);
    } finally {
      access.getGrant = getGrant;
    }
  });
});
