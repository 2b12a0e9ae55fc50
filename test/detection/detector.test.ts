import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { verifyLog } from '../../server/audit/verify.js';
import type { Detector, DetectorTiming } from '../../server/detection/detector.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import type { Stores } from '../../server/stores/types.js';
import { detectionId } from '../../server/detection/evaluator.js';
import { appendCall, everyFifth, exactlyOnce, FAST_DETECTOR_TIMING, raisedInLog, startTestDetector } from '../support/detection.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { testConfig } from '../support/test-server.js';

const DAY = 86_400_000;
const LEASE_TTL = FAST_DETECTOR_TIMING.leaseTtlMs!;
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const config = testConfig({ detection: { warmupDays: 1, warmupEvents: 1 } });

const running: Detector[] = [];
const open: Stores[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await Promise.all(open.splice(0).map((s) => s.close().catch(() => {})));
});

function start(stores: Stores, clock: ManualClock, timing: Partial<DetectorTiming> = {}, logs = captureLogs({ level: 'silent' })): Detector {
  const detector = startTestDetector(stores, clock, config, { timing, logs });
  running.push(detector);
  return detector;
}

async function opened(stores: Promise<Stores>): Promise<Stores> {
  const s = await stores;
  open.push(s);
  return s;
}

/** A user's first call, then a day: past the warm-up (one event, one day), so every later call is judged. */
async function warmUp(stores: Stores, clock: ManualClock, user = ALICE): Promise<AuditEvent[]> {
  const first = await appendCall(stores.audit, user, 1);
  clock.advance(DAY);
  return [first];
}

async function moreCalls(stores: Stores, calls: AuditEvent[], upTo: number, user = ALICE): Promise<void> {
  for (let n = calls.length + 1; n <= upTo; n++) calls.push(await appendCall(stores.audit, user, n));
}

async function detectedCount(stores: Stores): Promise<number> {
  return [...(await raisedInLog(stores.audit)).values()].reduce((sum, r) => sum + r.detected, 0);
}

async function expectWholeChain(stores: Stores): Promise<void> {
  expect((await verifyLog(await stores.audit.stored(), {})).broken).toBeNull();
}

const backends: { name: string; describe: (name: string, suite: () => void) => void; open: (clock: ManualClock) => () => Promise<Stores> }[] = [
  {
    name: 'embedded',
    describe,
    open: (clock) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-detector-'));
      return () => createEmbeddedStores({ dataDir, clock });
    },
  },
  {
    name: 'Redis',
    describe: describeWithRedis,
    open: (clock) => {
      const prefix = uniquePrefix();
      return () => redisStoresForTest({ prefix, clock });
    },
  },
];

for (const backend of backends) {
  backend.describe(`a restarted detector (${backend.name} store)`, () => {
    it('raises every detection exactly once, the state it learned before the restart carried over', async () => {
      const clock = new ManualClock();
      const reopen = backend.open(clock);
      let stores = await opened(reopen());
      const calls = await warmUp(stores, clock);
      let detector = start(stores, clock);
      await moreCalls(stores, calls, 12);
      await expect.poll(() => detectedCount(stores)).toBe(2);
      await detector.stop();
      await stores.close();

      stores = await opened(reopen());
      await moreCalls(stores, calls, 27);
      detector = start(stores, clock);
      await expect.poll(() => detectedCount(stores)).toBe(5);
      await detector.stop();
      // Calls 15, 20 and 25 were found only because the count of calls 11 and 12 survived the restart.
      expect(await raisedInLog(stores.audit)).toEqual(exactlyOnce(everyFifth(calls)));
      await expectWholeChain(stores);
    });
  });
}

describe('warm-up', () => {
  it('judges no user before the warm-up is over, while learning from them meanwhile', async () => {
    const clock = new ManualClock();
    const stores = await opened(createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-detector-')), clock }));
    const alice = await warmUp(stores, clock);
    const detector = start(stores, clock);
    const bob: AuditEvent[] = [];
    for (let n = 0; n < 10; n++) {
      await moreCalls(stores, alice, alice.length + 1);
      await moreCalls(stores, bob, bob.length + 1, BOB);
    }
    await expect.poll(() => detector.stats.observations).toBe(21);
    await detector.stop();
    // Bob's fifth and tenth calls came within his first day: not judged. Alice's were.
    expect(await raisedInLog(stores.audit)).toEqual(exactlyOnce(everyFifth(alice)));
    const [bobState] = (await stores.detector.load([`user:${BOB}`])).values();
    expect(bobState).toMatchObject({ count: 10, slots: { breadth: { calls: 10 } } });
  });
});

describe('a clock that jumps past the lease', () => {
  it('keeps evaluating without a replay when no other instance took the lease meanwhile', async () => {
    const clock = new ManualClock();
    const stores = await opened(createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-detector-')), clock }));
    const calls = await warmUp(stores, clock);
    const detector = start(stores, clock, { renewIntervalMs: 60_000 });
    await moreCalls(stores, calls, 4);
    await expect.poll(() => detector.stats.observations).toBe(4);
    // Before a raise (call 5), then before a commit (call 6).
    clock.advance(10 * LEASE_TTL);
    await moreCalls(stores, calls, 5);
    await expect.poll(() => detectedCount(stores)).toBe(1);
    clock.advance(10 * LEASE_TTL);
    await moreCalls(stores, calls, 6);
    await expect.poll(async () => (await stores.detector.load([`user:${ALICE}`])).get(`user:${ALICE}`)?.count).toBe(6);
    await moreCalls(stores, calls, 10);
    await expect.poll(() => detectedCount(stores)).toBe(2);
    await detector.stop();
    // Each event read once: the term went on (a replay would read the calls again).
    expect(detector.stats.observations).toBe(10);
    expect(await raisedInLog(stores.audit)).toEqual(exactlyOnce(everyFifth(calls)));
  });
});

describe('a committed cursor that retention trimmed away', () => {
  it('goes on from the oldest retained event with the state it had learned, instead of stalling', async () => {
    const clock = new ManualClock();
    const stores = await opened(createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-detector-')), clock, audit: { retention: true } }));
    const calls = await warmUp(stores, clock);
    let detector = start(stores, clock);
    await moreCalls(stores, calls, 7);
    await expect.poll(() => detector.stats.observations).toBe(7);
    await detector.stop();
    await moreCalls(stores, calls, 12);
    await stores.audit.trim({ keep: 3 });

    const logs = captureLogs({ level: 'warn' });
    detector = start(stores, clock, {}, logs);
    await expect.poll(() => detector.stats.observations).toBe(3);
    await detector.stop();
    expect(logs.lines.join('')).toContain('no longer in the audit log');
    // Calls 8 and 9 went unjudged: the count learned from calls 1-7 reaches ten at call 12.
    expect(await raisedInLog(stores.audit)).toEqual(exactlyOnce([detectionId('breadth', calls[11]!.id)]));
  });
});

describe('a committed cursor ahead of the log (the log replaced or rolled back)', () => {
  it('is not taken for a trimmed one: the detector waits, saying why, instead of judging every retained event again', async () => {
    const clock = new ManualClock();
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-detector-'));
    let stores = await createEmbeddedStores({ dataDir, clock });
    const calls = await warmUp(stores, clock);
    const detector = start(stores, clock);
    await moreCalls(stores, calls, 7);
    await expect.poll(() => detector.stats.observations).toBe(7);
    await detector.stop();
    await stores.close();

    // The audit log is replaced by a shorter one; the detector's state (its cursor at 7) stays.
    rmSync(join(dataDir, AUDIT_FILE_NAME));
    stores = await opened(createEmbeddedStores({ dataDir, clock }));
    await moreCalls(stores, [], 3);
    const logs = captureLogs({ level: 'warn' });
    const again = start(stores, clock, {}, logs);
    await expect.poll(() => logs.lines.join('')).toContain('not in this audit log');
    expect(again.stats.observations).toBe(0);
    expect(logs.lines.join('')).not.toContain('going on from the oldest retained event');
  });
});

describeWithRedis('two instances sharing Redis', () => {
  it('hand over when the evaluating one dies mid-stream: every detection exactly once', async () => {
    const clock = new ManualClock();
    const prefix = uniquePrefix();
    const writer = await opened(redisStoresForTest({ prefix, clock }));
    const instances = [await opened(redisStoresForTest({ prefix, clock })), await opened(redisStoresForTest({ prefix, clock }))];
    const calls = await warmUp(writer, clock);
    // Never commits: the one that dies leaves every detection it raised after its (absent) cursor.
    const detectors = instances.map((stores) => start(stores, clock, { commitEvery: 1_000, commitIntervalMs: 60_000 }));
    await expect.poll(() => detectors.filter((d) => d.stats.holding).length).toBe(1);
    const dying = detectors.findIndex((d) => d.stats.holding);
    await moreCalls(writer, calls, 12);
    await expect.poll(() => detectedCount(writer)).toBe(2);

    // Killed: its connection gone without a word, its lease left to lapse.
    await instances[dying]!.close();
    await moreCalls(writer, calls, 27);
    clock.advance(LEASE_TTL);
    const survivor = detectors[1 - dying]!;
    await expect.poll(() => survivor.stats.holding).toBe(true);
    await expect.poll(() => detectedCount(writer)).toBe(5);
    await survivor.stop();
    expect(await raisedInLog(writer.audit)).toEqual(exactlyOnce(everyFifth(calls)));
    await expectWholeChain(writer);
  });

  it('a holder whose lease lapsed while it stalled commits nothing over its successor', async () => {
    const clock = new ManualClock();
    const stores = await opened(redisStoresForTest({ clock }));
    const calls = await warmUp(stores, clock);
    const logs = captureLogs({ level: 'warn' });
    // It does not renew in time (stalled) and has not committed: its first commit is its last, at stop.
    const stalled = start(stores, clock, { renewIntervalMs: 60_000, commitEvery: 1_000, commitIntervalMs: 60_000 }, logs);
    await moreCalls(stores, calls, 6);
    await expect.poll(() => stalled.stats.observations).toBe(6);

    clock.advance(LEASE_TTL);
    expect(await stores.detector.claim('successor', clock.now(), clock.now() + 10 * LEASE_TTL)).toEqual({ cursor: null });
    await stalled.stop();
    expect(logs.lines.join('')).toContain('lease lost');
    expect(await stores.detector.claim('successor', clock.now(), clock.now() + 10 * LEASE_TTL)).toEqual({ cursor: null });
    expect(await stores.detector.load([`user:${ALICE}`])).toEqual(new Map());
  });
});

describeWithRedis('a store outage', () => {
  let server: RedisServerHandle | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('skips no event and repeats no detection when the connections drop mid-stream', async () => {
    server = await startRedisServer();
    const clock = new ManualClock();
    const stores = await opened(redisStoresForTest({ url: server.url, clock, fast: true }));
    const calls = await warmUp(stores, clock);
    const logs = captureLogs({ level: 'warn' });
    // Seldom commits: the outage strikes with detections raised after the committed cursor.
    const detector = start(stores, clock, { commitEvery: 1_000, commitIntervalMs: 60_000 }, logs);
    await moreCalls(stores, calls, 12);
    await expect.poll(() => detectedCount(stores)).toBe(2);

    const admin = new Redis(server.url);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    admin.disconnect();
    for (let n = calls.length + 1; n <= 27; n++) calls.push(await retried(() => appendCall(stores.audit, ALICE, n)));
    await expect.poll(() => detectedCount(stores)).toBe(5);
    await detector.stop();
    expect(logs.lines.join('')).toContain('store unavailable; resuming from the last committed cursor');
    expect(await raisedInLog(stores.audit)).toEqual(exactlyOnce(everyFifth(calls)));
    await expectWholeChain(stores);
  });
});

/** Retries while the client reconnects: a command refused on a dropped connection was never sent. */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
