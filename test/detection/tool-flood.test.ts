import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requestEvent } from '../../broker/request-audit.js';
import type { AuditEvent, AuditLog } from '../../server/audit/types.js';
import type { Detector } from '../../server/detection/detector.js';
import { poolBudgets } from '../../server/detection/entity-budgets.js';
import { detectionId } from '../../server/detection/evaluator.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { appendCall, raisedInLog, startTestDetector } from '../support/detection.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { testConfig } from '../support/test-server.js';

const MALLORY = 'mallory@example.com';
const ACCOMPLICE = 'accomplice@example.com';
const QUIET = 'quiet@example.com';
const BOB = 'bob@example.com';
const DAY = 86_400_000;
const MAX_ENTITIES = 50;
/** Each half of the flood alone is many times the whole store. */
const FLOOD = 500;
const TOOL_BUDGET = poolBudgets(MAX_ENTITIES).tools;
const config = testConfig({ detection: { warmupDays: 1, warmupEvents: 1, maxEntities: MAX_ENTITIES } });

/** A store over data that outlives it: `open` again is the restarted instance. */
type OpenStores = () => Promise<Stores>;

function appendToolCall(audit: AuditLog, user: string, tool: string, n: number): Promise<AuditEvent> {
  const call = requestEvent({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: tool, arguments: { n } } }, tool, 'SUCCESS', { grantId: null });
  return audit.append({ ...call, actor: user, server: 'everything', sessionId: `s-${user}` });
}

const madeUpKeys = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `tool:everything/made-up-${from + i}`);

/**
 * Tool entities are named by the caller: an allowed call of any name under a wildcard grant
 * makes one. Users and roles keep a budget tools cannot touch, so one person's made-up tools
 * never reset someone else's baseline (back to the warm-up, where their outliers go unseen);
 * within the tools, the ones one person alone has used go before any that two people share.
 */
function floodSuite(backend: string, storage: (clock: ManualClock) => OpenStores): void {
  describe(`a flood of allowed calls of made-up tools (${backend})`, () => {
    let stores: Stores;
    let detector: Detector;
    let clock: ManualClock;
    let open: OpenStores;

    afterEach(async () => {
      await detector.stop();
      await stores.close();
    });

    const start = async () => {
      stores = await open();
      detector = startTestDetector(stores, clock, config);
    };
    /** Stops the detector (its final commit) and opens the data again with a new one: the cache is gone, the store is the truth. */
    const restart = async () => {
      await detector.stop();
      await stores.close();
      await start();
    };
    /** Allowed calls of names the upstream does not have (a wildcard grant lets any name through), each name by every sender. */
    const flood = async (from: number, to: number, senders = [MALLORY]) => {
      const before = detector.stats.observations;
      for (let i = from; i < to; i++) {
        clock.advance(1);
        for (const sender of senders) await appendToolCall(stores.audit, sender, `made-up-${i}`, i);
      }
      await expect.poll(() => detector.stats.observations, { timeout: 20_000 }).toBe(before + (to - from) * senders.length);
    };
    /** Four calls of a quiet person, a day before the flood: past the warm-up, with the test rule's count at 4. */
    const quietBaseline = async () => {
      for (let n = 1; n <= 4; n++) await appendCall(stores.audit, QUIET, n);
      await expect.poll(async () => (await stores.detector.load([`user:${QUIET}`])).get(`user:${QUIET}`)?.count).toBe(4);
      clock.advance(DAY);
    };
    /** The test rule raises every fifth call of a warm person: only a baseline kept whole (count and first seen) raises this one. */
    const expectFifthCallRaised = async () => {
      const fifth = await appendCall(stores.audit, QUIET, 5);
      await expect.poll(async () => (await raisedInLog(stores.audit)).get(detectionId('breadth', fifth.id))?.detected, { timeout: 10_000 }).toBe(1);
      await detector.stop();
      expect((await stores.detector.load([`user:${QUIET}`])).get(`user:${QUIET}`)).toMatchObject({ count: 5 });
    };

    it('pushes no other person’s state out, across a restart: their later outlier is still raised', async () => {
      clock = new ManualClock();
      open = storage(clock);
      await start();
      await quietBaseline();
      await flood(0, FLOOD);
      await restart();
      await flood(FLOOD, 2 * FLOOD);
      await expectFifthCallRaised();
      expect((await stores.detector.load(madeUpKeys(0, 2 * FLOOD))).size).toBeLessThanOrEqual(TOOL_BUDGET);
    });

    it('pushes no person out even when two accounts share every made-up name: tools have a budget of their own', async () => {
      clock = new ManualClock();
      open = storage(clock);
      await start();
      await quietBaseline();
      await flood(0, FLOOD, [MALLORY, ACCOMPLICE]);
      await restart();
      await expectFifthCallRaised();
      expect((await stores.detector.load(madeUpKeys(0, FLOOD))).size).toBeLessThanOrEqual(TOOL_BUDGET);
    });

    it('keeps a tool two people use, dropping tools one person alone used first, however recent', async () => {
      clock = new ManualClock();
      open = storage(clock);
      await start();
      await appendToolCall(stores.audit, QUIET, 'shared', 1);
      await appendToolCall(stores.audit, BOB, 'shared', 2);
      clock.advance(1);
      await appendToolCall(stores.audit, QUIET, 'solo', 3);
      await appendToolCall(stores.audit, QUIET, 'solo', 4);
      await expect.poll(() => detector.stats.observations).toBe(4);
      clock.advance(1);
      await flood(0, FLOOD);
      await detector.stop();
      const kept = await stores.detector.load(['tool:everything/shared', 'tool:everything/solo']);
      expect([...kept.keys()]).toEqual(['tool:everything/shared']);
      expect(kept.get('tool:everything/shared')).toMatchObject({ count: 2 });
      expect(kept.get('tool:everything/shared')!.soleUser).toBeUndefined();
      // The flood's newest stay: the pool is full of single-person tools, evicted least recently seen first among themselves.
      expect([...(await stores.detector.load(madeUpKeys(0, FLOOD))).keys()]).toEqual(madeUpKeys(FLOOD - (TOOL_BUDGET - 1), FLOOD));
    });
  });
}

floodSuite('embedded', (clock) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-flood-'));
  return () => createEmbeddedStores({ dataDir, clock });
});

describeWithRedis('redis', () => {
  floodSuite('redis', (clock) => {
    const prefix = uniquePrefix();
    return () => redisStoresForTest({ prefix, clock });
  });
});
