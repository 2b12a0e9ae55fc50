import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnomalyRecord, Suppression } from '../../server/detection/types.js';
import { InvalidCursorError, InvalidInputError, StoreFullError } from '../../server/errors.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { MAX_TRIM_PER_CREATE } from '../../server/stores/anomaly-listing.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, sharedRedisUrl, uniquePrefix } from '../support/redis.js';

/** Live suppressions each backend under contract holds at most. */
const CAPACITY = 3;
const HOUR = 3_600_000;

interface Fixture {
  clock: ManualClock;
  /** Opens the backend on its data: the first call a fresh store, later ones a restarted instance. */
  open(): Promise<Stores>;
}

function anomaly(n: number, overrides: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    id: `an_${n}`,
    rule: 'probing',
    severity: 'high',
    score: 1.4,
    summary: `anomaly ${n}`,
    observed: { denials: 14 },
    baseline: { threshold: 10 },
    eventIds: [`${n}`],
    at: new Date(Date.UTC(2026, 10, 30, 0, 0, n)).toISOString(),
    user: 'alice@example.com',
    server: 'everything',
    tool: 'echo',
    sessionId: `s-${n}`,
    grantId: null,
    status: 'open',
    auditEventId: `${n}`,
    responses: [],
    acknowledgedBy: null,
    acknowledgedAt: null,
    note: null,
    version: 1,
    ...overrides,
  };
}

function suppression(id: string, clock: ManualClock, ttlMs = HOUR, overrides: Partial<Suppression> = {}): Suppression {
  return { id, user: 'alice@example.com', rule: 'rate_spike', reason: 'migration', createdBy: 'carol@example.com', createdAt: clock.now(), expiresAt: clock.now() + ttlMs, ...overrides };
}

const ids = (listed: { record: AnomalyRecord }[]) => listed.map((l) => l.record.id);

function runAnomalyStoreContract(backend: string, create: () => Fixture): void {
  describe(`anomaly store contract: ${backend}`, () => {
    let fx: Fixture;
    let stores: Stores;
    const opened: Stores[] = [];
    const open = async () => {
      const s = await fx.open();
      opened.push(s);
      return s;
    };
    /** Closes the store and opens the same data again, as a restarted instance. */
    const restart = async () => {
      await stores.close();
      opened.splice(opened.indexOf(stores), 1);
      stores = await open();
      return stores;
    };

    beforeEach(async () => {
      fx = create();
      stores = await open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('anomalies', () => {
      it('creates an anomaly once (a replayed raise finds it there) and reads it back intact', async () => {
        const first = anomaly(1);
        const results = await Promise.all([first, anomaly(1, { summary: 'a replay' }), anomaly(1)].map((a) => stores.anomalies.create(a, 10)));
        expect(results.filter(Boolean)).toHaveLength(1);
        const stored = await stores.anomalies.get('an_1');
        expect(stored?.summary === first.summary || stored?.summary === 'a replay').toBe(true);
        expect(await stores.anomalies.create(anomaly(1), 10)).toBe(false);
        expect({ ...stored, summary: first.summary }).toEqual(first);
        expect(await stores.anomalies.get('an_2')).toBeNull();
      });

      it('keeps the newest `keep` only, dropping the oldest (record and every listing) in the step that creates a newer one', async () => {
        for (let n = 1; n <= 5; n++) expect(await stores.anomalies.create(anomaly(n, { user: n % 2 ? 'alice@example.com' : 'bob@example.com' }), 3)).toBe(true);
        expect(ids(await stores.anomalies.list({ limit: 10 }))).toEqual(['an_5', 'an_4', 'an_3']);
        expect(await stores.anomalies.get('an_1')).toBeNull();
        expect(await stores.anomalies.get('an_2')).toBeNull();
        expect(ids(await stores.anomalies.list({ user: 'alice@example.com', limit: 10 }))).toEqual(['an_5', 'an_3']);
        expect(ids(await stores.anomalies.list({ user: 'bob@example.com', status: 'open', limit: 10 }))).toEqual(['an_4']);
        // One older than every kept anomaly is not kept either: the newest `keep` stay.
        expect(await stores.anomalies.create(anomaly(0), 3)).toBe(true);
        expect(ids(await stores.anomalies.list({ limit: 10 }))).toEqual(['an_5', 'an_4', 'an_3']);
      });

      it(`drops at most ${MAX_TRIM_PER_CREATE} per create once \`keep\` was lowered: the surplus goes over the next creates, not in one blocking step`, async () => {
        const count = MAX_TRIM_PER_CREATE + 2;
        await Promise.all(Array.from({ length: count }, (_, n) => stores.anomalies.create(anomaly(n), count)));
        await stores.anomalies.create(anomaly(count), 1);
        expect(ids(await stores.anomalies.list({ limit: 10 }))).toEqual([`an_${count}`, `an_${count - 1}`, `an_${count - 2}`]);
        await stores.anomalies.create(anomaly(count + 1), 1);
        expect(ids(await stores.anomalies.list({ limit: 10 }))).toEqual([`an_${count + 1}`]);
      });

      it('updates compare-and-set on the version: of racing acknowledgements one wins', async () => {
        await stores.anomalies.create(anomaly(1), 10);
        const ack = (by: string): AnomalyRecord => ({ ...anomaly(1), status: 'acknowledged', acknowledgedBy: by, acknowledgedAt: fx.clock.now(), version: 2 });
        const results = await Promise.all(['carol', 'dave', 'erin'].map((by) => stores.anomalies.update(ack(by))));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = ['carol', 'dave', 'erin'][results.indexOf(true)]!;
        expect(await stores.anomalies.get('an_1')).toEqual(ack(winner));
        expect(await stores.anomalies.update({ ...ack('late'), version: 4 })).toBe(false);
        expect(await stores.anomalies.update(anomaly(9, { version: 2 }))).toBe(false);
      });

      it('lists newest first with cursors, by user, by status and by both, following status changes', async () => {
        for (let n = 1; n <= 6; n++) await stores.anomalies.create(anomaly(n, { user: n <= 3 ? 'alice@example.com' : 'bob@example.com' }), 100);
        await stores.anomalies.update({ ...anomaly(2), status: 'acknowledged', version: 2 });
        await stores.anomalies.update({ ...anomaly(5, { user: 'bob@example.com' }), status: 'acknowledged', version: 2 });

        const page1 = await stores.anomalies.list({ limit: 4 });
        expect(ids(page1)).toEqual(['an_6', 'an_5', 'an_4', 'an_3']);
        expect(ids(await stores.anomalies.list({ after: page1.at(-1)!.cursor, limit: 4 }))).toEqual(['an_2', 'an_1']);
        expect(ids(await stores.anomalies.list({ user: 'alice@example.com', limit: 10 }))).toEqual(['an_3', 'an_2', 'an_1']);
        expect(ids(await stores.anomalies.list({ status: 'acknowledged', limit: 10 }))).toEqual(['an_5', 'an_2']);
        expect(ids(await stores.anomalies.list({ status: 'open', limit: 10 }))).toEqual(['an_6', 'an_4', 'an_3', 'an_1']);
        const bobOpen = await stores.anomalies.list({ user: 'bob@example.com', status: 'open', limit: 1 });
        expect(ids(bobOpen)).toEqual(['an_6']);
        expect(ids(await stores.anomalies.list({ user: 'bob@example.com', status: 'open', after: bobOpen[0]!.cursor, limit: 10 }))).toEqual(['an_4']);
        expect(await stores.anomalies.list({ user: 'nobody@example.com', limit: 10 })).toEqual([]);
        expect((await stores.anomalies.list({ limit: 1 }))[0]!.record).toEqual(await stores.anomalies.get('an_6'));
      });

      it('goes on from a cursor whose anomaly was trimmed meanwhile', async () => {
        for (let n = 1; n <= 4; n++) await stores.anomalies.create(anomaly(n), 4);
        const page = await stores.anomalies.list({ limit: 3 });
        await stores.anomalies.create(anomaly(5), 4);
        await stores.anomalies.create(anomaly(6), 4);
        expect(ids(await stores.anomalies.list({ after: page.at(-1)!.cursor, limit: 10 }))).toEqual([]);
        expect(ids(await stores.anomalies.list({ after: page[0]!.cursor, limit: 10 }))).toEqual(['an_3']);
      });

      it('refuses a cursor it did not issue, and an anomaly whose id or time a cursor could not carry', async () => {
        await expect(stores.anomalies.list({ after: 'an_1', limit: 10 })).rejects.toBeInstanceOf(InvalidCursorError);
        await expect(stores.anomalies.list({ after: '0000000000001:a b', limit: 10 })).rejects.toBeInstanceOf(InvalidCursorError);
        await expect(stores.anomalies.create(anomaly(1, { id: 'an:1' }), 10)).rejects.toBeInstanceOf(InvalidInputError);
        await expect(stores.anomalies.create(anomaly(1, { at: 'yesterday' }), 10)).rejects.toBeInstanceOf(InvalidInputError);
      });
    });

    describe('suppressions', () => {
      it('returns the live ones soonest to expire first, and forgets each once the clock reaches its expiresAt', async () => {
        await stores.anomalies.suppress(suppression('sp_long', fx.clock, 3 * HOUR));
        await stores.anomalies.suppress(suppression('sp_short', fx.clock, HOUR, { user: 'bob@example.com', rule: 'probing' }));
        expect(await stores.anomalies.suppressions(fx.clock.now())).toEqual([suppression('sp_short', fx.clock, HOUR, { user: 'bob@example.com', rule: 'probing' }), suppression('sp_long', fx.clock, 3 * HOUR)]);
        fx.clock.advance(HOUR);
        expect((await stores.anomalies.suppressions(fx.clock.now())).map((s) => s.id)).toEqual(['sp_long']);
        expect(await stores.anomalies.unsuppress('sp_short')).toBeNull();
      });

      it('removes a suppression once: the first unsuppress returns it, later ones nothing', async () => {
        const s = suppression('sp_1', fx.clock);
        await stores.anomalies.suppress(s);
        const results = await Promise.all([1, 2, 3].map(() => stores.anomalies.unsuppress('sp_1')));
        expect(results.filter((r) => r !== null)).toEqual([s]);
        expect(await stores.anomalies.suppressions(fx.clock.now())).toEqual([]);
      });

      it(`holds at most ${CAPACITY} live suppressions, evicting none; rewriting one still works, and room comes back as they expire or are removed`, async () => {
        for (let i = 0; i < CAPACITY; i++) await stores.anomalies.suppress(suppression(`sp_${i}`, fx.clock, (i + 1) * HOUR));
        const full = stores.anomalies.suppress(suppression('sp_extra', fx.clock));
        await expect(full).rejects.toBeInstanceOf(StoreFullError);
        await expect(full).rejects.toMatchObject({ code: 'STORE_FULL', message: expect.stringMatching(/suppressions are live/) });
        await stores.anomalies.suppress(suppression('sp_0', fx.clock, 5 * HOUR, { reason: 'longer' }));
        expect((await stores.anomalies.suppressions(fx.clock.now())).map((s) => s.id)).toEqual(['sp_1', 'sp_2', 'sp_0']);
        fx.clock.advance(2 * HOUR);
        await stores.anomalies.suppress(suppression('sp_extra', fx.clock));
        await expect(stores.anomalies.suppress(suppression('sp_more', fx.clock))).rejects.toBeInstanceOf(StoreFullError);
        await stores.anomalies.unsuppress('sp_0');
        await stores.anomalies.suppress(suppression('sp_more', fx.clock));
      });
    });

    describe('across a restart (a new instance on the same data)', () => {
      it('keeps anomalies in their order with their versions, the `keep` bound, and live suppressions', async () => {
        for (let n = 1; n <= 3; n++) await stores.anomalies.create(anomaly(n), 3);
        await stores.anomalies.update({ ...anomaly(2), status: 'acknowledged', version: 2 });
        await stores.anomalies.suppress(suppression('sp_live', fx.clock, 2 * HOUR));
        await stores.anomalies.suppress(suppression('sp_gone', fx.clock, HOUR));
        await stores.anomalies.unsuppress('sp_gone');
        const again = await restart();
        expect(ids(await again.anomalies.list({ limit: 10 }))).toEqual(['an_3', 'an_2', 'an_1']);
        expect(ids(await again.anomalies.list({ status: 'acknowledged', limit: 10 }))).toEqual(['an_2']);
        expect(await again.anomalies.update({ ...anomaly(2), status: 'open', version: 2 })).toBe(false);
        expect(await again.anomalies.update({ ...anomaly(2), status: 'open', version: 3 })).toBe(true);
        expect(await again.anomalies.create(anomaly(1), 3)).toBe(false);
        await again.anomalies.create(anomaly(4), 3);
        expect(ids(await again.anomalies.list({ limit: 10 }))).toEqual(['an_4', 'an_3', 'an_2']);
        expect((await again.anomalies.suppressions(fx.clock.now())).map((s) => s.id)).toEqual(['sp_live']);
      });
    });
  });
}

runAnomalyStoreContract('embedded', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-anomalies-'));
  const clock = new ManualClock();
  return { clock, open: () => createEmbeddedStores({ dataDir, clock, suppressionCapacity: CAPACITY }) };
});

describeWithRedis('redis backend', () => {
  runAnomalyStoreContract('redis', () => {
    const keyPrefix = uniquePrefix();
    const clock = new ManualClock();
    return {
      clock,
      open: async () => {
        const stores = createRedisStores({ url: sharedRedisUrl, keyPrefix, clock, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000, suppressionCapacity: CAPACITY });
        await stores.waitReady();
        return stores;
      },
    };
  });
});
