import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pendingEntry } from '../../server/notifications/outbox-entry.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { OutboxEntry, Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';

interface Fixture {
  stores: Stores;
  clock: ManualClock;
  /** The same data opened again: a restarted instance (after `stores` is closed). */
  reopen(): Promise<Stores>;
}

const TTL = 10_000;
const KEEP = 86_400_000;

function entry(clock: ManualClock, sink: string, eventId: string, over: Partial<OutboxEntry> = {}): OutboxEntry {
  const now = clock.now();
  const event = { id: eventId, type: 'access_request.created', time: new Date(now).toISOString(), actor: 'alice@example.com', links: { console: 'https://portcullis.example.com/' } };
  return { ...pendingEntry(sink, event, [], now), ...over };
}

function runNotificationStoreContract(backend: string, create: () => Promise<Fixture>): void {
  describe(`notification store: ${backend}`, () => {
    let fx: Fixture;
    const opened: Stores[] = [];
    beforeEach(async () => {
      fx = await create();
      opened.push(fx.stores);
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const claim = (stores: Stores, holder: string) => stores.notifications.claim(holder, fx.clock.now(), fx.clock.now() + TTL);

    it('one holder at a time: the enqueue is fenced by the lease, and writes the entries with the cursor', async () => {
      // Two holders (two instances' dispatchers) on the one store.
      const { notifications } = fx.stores;
      expect(await claim(fx.stores, 'a')).toEqual({ cursor: null });
      expect(await claim(fx.stores, 'b')).toBeNull();
      expect(await notifications.enqueue('b', fx.clock.now(), '7', [entry(fx.clock, 'ops', '7')], fx.clock.now() + KEEP)).toBe(false);
      expect(await notifications.get('ops:7')).toBeNull();
      expect(await notifications.enqueue('a', fx.clock.now(), '7', [entry(fx.clock, 'ops', '7')], fx.clock.now() + KEEP)).toBe(true);
      // The lease lapsed: b takes it, and sees a's cursor; a can write nothing more.
      fx.clock.advance(TTL);
      expect(await claim(fx.stores, 'b')).toEqual({ cursor: '7' });
      expect(await notifications.enqueue('a', fx.clock.now(), '8', [entry(fx.clock, 'ops', '8')], fx.clock.now() + KEEP)).toBe(false);
      expect(await notifications.get('ops:8')).toBeNull();
      await notifications.release('b');
      expect(await claim(fx.stores, 'a')).toEqual({ cursor: '7' });
    });

    it('an entry enqueued again (a replay) is kept as it is; an update is compare-and-set on its version', async () => {
      await claim(fx.stores, 'a');
      const first = entry(fx.clock, 'ops', '1');
      await fx.stores.notifications.enqueue('a', fx.clock.now(), '1', [first], fx.clock.now() + KEEP);
      const delivered = { ...first, status: 'DELIVERED' as const, attempts: 1, version: 2 };
      expect(await fx.stores.notifications.update(delivered, fx.clock.now() + KEEP)).toBe(true);
      expect(await fx.stores.notifications.update({ ...first, version: 2, lastError: 'stale' }, fx.clock.now() + KEEP)).toBe(false);
      await fx.stores.notifications.enqueue('a', fx.clock.now(), '1', [first], fx.clock.now() + KEEP);
      expect(await fx.stores.notifications.get(first.id)).toEqual(delivered);
      expect((await fx.stores.notifications.entries()).map((e) => e.id)).toEqual([first.id]);
    });

    it("an entry that opens a subject is kept as the subject's opener, written with it under the lease's fence", async () => {
      const { notifications } = fx.stores;
      const now = fx.clock.now();
      const opening = entry(fx.clock, 'chat', '1', { opens: 'chat:req-1' });
      const followUp = entry(fx.clock, 'chat', '2');
      await claim(fx.stores, 'a');
      expect(await notifications.enqueue('b', now, '1', [opening], now + KEEP)).toBe(false);
      expect(await notifications.opener('chat:req-1')).toBeNull();
      expect(await notifications.enqueue('a', now, '2', [opening, followUp], now + KEEP)).toBe(true);
      expect(await notifications.opener('chat:req-1')).toBe(opening.id);
      expect(await notifications.get(opening.id)).toEqual(opening);
      expect(await notifications.opener('chat:req-2')).toBeNull();
    });

    it('due: only pending entries of the sink, due and unclaimed, soonest first', async () => {
      await claim(fx.stores, 'a');
      const now = fx.clock.now();
      const later = entry(fx.clock, 'ops', '1', { dueAt: now + 5_000 });
      const soon = entry(fx.clock, 'ops', '2', { dueAt: now - 2_000 });
      const sooner = entry(fx.clock, 'ops', '3', { dueAt: now - 3_000 });
      const elsewhere = entry(fx.clock, 'chat', '2');
      await fx.stores.notifications.enqueue('a', now, '3', [later, soon, sooner, elsewhere], now + KEEP);
      expect((await fx.stores.notifications.due('ops', now, 10)).map((e) => e.id)).toEqual([sooner.id, soon.id]);
      expect((await fx.stores.notifications.due('ops', now, 1)).map((e) => e.id)).toEqual([sooner.id]);
      // Claimed by an instance: left alone until the claim lapses; dead: never due.
      await fx.stores.notifications.update({ ...sooner, claimedBy: 'x', claimedUntil: now + 1_000, version: 2 }, now + KEEP);
      await fx.stores.notifications.update({ ...soon, status: 'DEAD', version: 2 }, now + KEEP);
      expect(await fx.stores.notifications.due('ops', now, 10)).toEqual([]);
      fx.clock.advance(6_000);
      expect((await fx.stores.notifications.due('ops', fx.clock.now(), 10)).map((e) => e.id)).toEqual([sooner.id, later.id]);
    });

    it('survives a restart', async () => {
      await claim(fx.stores, 'a');
      await fx.stores.notifications.enqueue('a', fx.clock.now(), '1', [entry(fx.clock, 'ops', '1', { opens: 'ops:req-1' })], fx.clock.now() + KEEP);
      await fx.stores.close();
      opened.splice(opened.indexOf(fx.stores), 1);
      const reopened = await fx.reopen();
      opened.push(reopened);
      expect(await reopened.notifications.get('ops:1')).toMatchObject({ status: 'PENDING' });
      expect(await reopened.notifications.opener('ops:req-1')).toBe('ops:1');
      expect(await reopened.notifications.claim('a', fx.clock.now(), fx.clock.now() + TTL)).toEqual({ cursor: '1' });
    });
  });
}

runNotificationStoreContract('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-notifications-'));
  const clock = new ManualClock();
  const open = () => createEmbeddedStores({ dataDir, clock });
  return { stores: await open(), clock, reopen: open };
});

describeWithRedis('redis', () => {
  runNotificationStoreContract('redis', async () => {
    const prefix = uniquePrefix();
    const clock = new ManualClock();
    const open = () => redisStoresForTest({ prefix, clock });
    return { stores: await open(), clock, reopen: open };
  });
});
