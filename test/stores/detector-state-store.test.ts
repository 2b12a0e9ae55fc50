import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntityState } from '../../server/detection/types.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';

interface Fixture {
  stores: Stores;
  clock: ManualClock;
  /** The same data opened again, as a restarted instance (after `stores` is closed) or a second one. */
  reopen(): Promise<Stores>;
}

const TTL = 10_000;
const DAY = 86_400_000;

const entity = (lastSeen: number, count = 1): EntityState => ({ firstSeen: lastSeen - count, lastSeen, count, slots: { rate_spike: { windows: [count] } } });
const kept = (state: EntityState) => ({ state, expiresAt: state.lastSeen + DAY });

function runDetectorStateContract(backend: string, create: () => Promise<Fixture>): void {
  describe(`detector state store: ${backend}`, () => {
    let fx: Fixture;
    const opened: Stores[] = [];
    const reopen = async () => {
      const stores = await fx.reopen();
      opened.push(stores);
      return stores;
    };
    beforeEach(async () => {
      fx = await create();
      opened.push(fx.stores);
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('the lease', () => {
      it('goes to the first claimant, who renews it, and to no one else while it is live', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        expect(await detector.claim('a', now, now + TTL)).toEqual({ cursor: null });
        expect(await detector.claim('b', now, now + TTL)).toBeNull();
        fx.clock.advance(TTL - 1);
        expect(await detector.claim('a', fx.clock.now(), fx.clock.now() + TTL)).toEqual({ cursor: null });
        fx.clock.advance(TTL - 1);
        expect(await detector.claim('b', fx.clock.now(), fx.clock.now() + TTL)).toBeNull();
      });

      it('is taken over once it lapses, with the cursor its last holder committed', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        expect(await detector.commit('a', fx.clock.now(), '41', new Map(), 10)).toBe(true);
        fx.clock.advance(TTL);
        expect(await detector.claim('b', fx.clock.now(), fx.clock.now() + TTL)).toEqual({ cursor: '41' });
        expect(await detector.claim('a', fx.clock.now(), fx.clock.now() + TTL)).toBeNull();
      });

      it('is free at once when its holder releases it, and only its holder can release it', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        await detector.release('b');
        expect(await detector.claim('b', now, now + TTL)).toBeNull();
        await detector.release('a');
        expect(await detector.claim('b', now, now + TTL)).toEqual({ cursor: null });
      });
    });

    describe('the fenced commit', () => {
      it('writes the cursor and the entities while the holder holds the lease', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        const alice = entity(now, 3);
        expect(await detector.commit('a', fx.clock.now(), '7', new Map([['user:alice@example.com', kept(alice)]]), 10)).toBe(true);
        expect(await detector.load(['user:alice@example.com', 'user:nobody@example.com'])).toEqual(new Map([['user:alice@example.com', alice]]));
      });

      it('is refused after a takeover, and writes nothing: neither cursor nor entities', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        await detector.commit('a', fx.clock.now(), '5', new Map([['user:alice@example.com', kept(entity(now, 1))]]), 10);
        fx.clock.advance(TTL);
        await detector.claim('b', fx.clock.now(), fx.clock.now() + TTL);
        expect(await detector.commit('a', fx.clock.now(), '9', new Map([['user:alice@example.com', kept(entity(now, 99))], ['user:bob@example.com', kept(entity(now))]]), 10)).toBe(false);
        expect(await detector.load(['user:alice@example.com', 'user:bob@example.com'])).toEqual(new Map([['user:alice@example.com', entity(now, 1)]]));
        await detector.release('b');
        expect(await detector.claim('c', fx.clock.now(), fx.clock.now() + TTL)).toEqual({ cursor: '5' });
      });

      it('is refused once the holder let its lease lapse, even with no one else holding it', async () => {
        const { detector } = fx.stores;
        await detector.claim('a', fx.clock.now(), fx.clock.now() + TTL);
        fx.clock.advance(TTL);
        expect(await detector.commit('a', fx.clock.now(), '3', new Map(), 10)).toBe(false);
      });

      it('judges the lease at the time the holder gives (its own clock), not at the store\'s clock, which may be simulated', async () => {
        const { detector } = fx.stores;
        const leaseNow = fx.clock.now();
        await detector.claim('a', leaseNow, leaseNow + TTL);
        // Business time jumps a day ahead (a replay); the lease, on real time, is still live.
        fx.clock.advance(DAY);
        expect(await detector.commit('a', leaseNow + 1, '4', new Map(), 10)).toBe(true);
        expect(await detector.commit('a', leaseNow + TTL, '5', new Map(), 10)).toBe(false);
      });

      it('is refused to a holder that never claimed', async () => {
        expect(await fx.stores.detector.commit('a', fx.clock.now(), '3', new Map(), 10)).toBe(false);
      });
    });

    describe('entity states', () => {
      it('loads nothing for absent keys, and forgets an entity once its expiresAt passes', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + 10 * DAY);
        expect(await detector.load(['user:alice@example.com'])).toEqual(new Map());
        await detector.commit('a', fx.clock.now(), '1', new Map([['user:alice@example.com', { state: entity(now), expiresAt: now + DAY }]]), 10);
        fx.clock.advance(DAY - 1);
        expect((await detector.load(['user:alice@example.com'])).size).toBe(1);
        fx.clock.advance(1);
        expect(await detector.load(['user:alice@example.com'])).toEqual(new Map());
      });

      it('keeps people and roles to their share of maxEntities (three of four), dropping the least recently seen first', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        const states = new Map(['u1', 'u2', 'u3'].map((name, i) => [`user:${name}`, kept(entity(now + i))]));
        await detector.commit('a', fx.clock.now(), '1', states, 4);
        // u1 is seen again: u2 is now the least recently seen.
        await detector.commit('a', fx.clock.now(), '2', new Map([['user:u1', kept(entity(now + 10))], ['user:u4', kept(entity(now + 5))]]), 4);
        const loaded = await detector.load(['user:u1', 'user:u2', 'user:u3', 'user:u4']);
        expect([...loaded.keys()].sort()).toEqual(['user:u1', 'user:u3', 'user:u4']);
        await detector.commit('a', fx.clock.now(), '3', new Map([['user:u5', kept(entity(now + 20))], ['user:u6', kept(entity(now + 21))]]), 4);
        expect([...(await detector.load(['user:u1', 'user:u3', 'user:u4', 'user:u5', 'user:u6'])).keys()].sort()).toEqual(['user:u1', 'user:u5', 'user:u6']);
      });

      it('gives an expired tool\'s place to a live one, even one a single person used over one several shared', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + 10 * DAY);
        await detector.commit('a', fx.clock.now(), '1', new Map([['tool:everything/shared', kept(entity(now))]]), 4);
        fx.clock.advance(DAY);
        const later = fx.clock.now();
        const soleUse = { ...entity(later), soleUser: 'tag' };
        await detector.commit('a', later, '2', new Map([['tool:everything/made-up', kept(soleUse)]]), 4);
        expect(await detector.load(['tool:everything/made-up', 'tool:everything/shared'])).toEqual(new Map([['tool:everything/made-up', soleUse]]));
      });

      it('keeps a place for a tool under a bound below four, people and roles keeping at least as many', async () => {
        const { detector } = fx.stores;
        const now = fx.clock.now();
        await detector.claim('a', now, now + TTL);
        const states = new Map([
          ['user:u1', kept(entity(now))],
          ['user:u2', kept(entity(now + 1))],
          ['user:u3', kept(entity(now + 2))],
          ['tool:everything/echo', kept(entity(now))],
        ]);
        await detector.commit('a', fx.clock.now(), '1', states, 3);
        expect([...(await detector.load([...states.keys()])).keys()].sort()).toEqual(['tool:everything/echo', 'user:u2', 'user:u3']);
        await detector.commit('a', fx.clock.now(), '2', states, 2);
        expect([...(await detector.load([...states.keys()])).keys()].sort()).toEqual(['tool:everything/echo', 'user:u3']);
      });
    });

    it('keeps the cursor and the entities across a restart', async () => {
      const now = fx.clock.now();
      await fx.stores.detector.claim('a', now, now + TTL);
      const alice = entity(now, 4);
      await fx.stores.detector.commit('a', fx.clock.now(), '12', new Map([['user:alice@example.com', kept(alice)]]), 10);
      await fx.stores.detector.release('a');
      await fx.stores.close();
      opened.splice(opened.indexOf(fx.stores), 1);
      const restarted = await reopen();
      expect(await restarted.detector.claim('b', now, now + TTL)).toEqual({ cursor: '12' });
      expect(await restarted.detector.load(['user:alice@example.com'])).toEqual(new Map([['user:alice@example.com', alice]]));
    });
  });
}

runDetectorStateContract('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-detector-'));
  const clock = new ManualClock();
  const open = () => createEmbeddedStores({ dataDir, clock });
  return { stores: await open(), clock, reopen: open };
});

describeWithRedis('redis', () => {
  runDetectorStateContract('redis', async () => {
    const prefix = uniquePrefix();
    const clock = new ManualClock();
    const open = () => redisStoresForTest({ prefix, clock });
    return { stores: await open(), clock, reopen: open };
  });
});
