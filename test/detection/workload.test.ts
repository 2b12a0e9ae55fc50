import { beforeAll, describe, expect, it } from 'vitest';
import { runWorkload } from '../../bench/detection/workload.js';
import type { WorkloadResult } from '../../bench/detection/workload.js';

/**
 * The detection evaluation's workload at a small scale (bench/detection/, the same
 * generator `npm run bench -- --only=detection` runs): 8 people, two weeks and a day of
 * history, then one day of incidents, through a real broker with the shipped detection
 * defaults. Asserts on labels only; timing is the bench's.
 */
describe('outlier detection on a simulated workload', () => {
  let result: WorkloadResult;
  beforeAll(async () => {
    result = await runWorkload({ seed: 17, people: 8, historyDays: 15, evalDays: 1, rounds: 1 });
  }, 240_000);

  it('replays the plan through the broker, the planned refusals refused', () => {
    expect(result.replay.calls).toBeGreaterThan(1000);
    // Probing: ten admin tools refused and four servers outside the role; the lapsed grant: two opens refused.
    expect(result.replay.refusedCalls).toBeGreaterThanOrEqual(10);
    expect(result.replay.refusedOpens).toBeGreaterThanOrEqual(6);
  });

  it('detects every injected incident by each of its rules', () => {
    expect(result.score.missed.map(({ label, rule }) => `${label.name} by ${rule}`)).toEqual([]);
  });

  it('raises nothing on the benign look-alikes (newcomer, far time zone, release day, client upgrade, lapsed grant, steady large exports)', () => {
    expect(result.score.falseAlarms.filter((f) => f.lookalike !== null).map((f) => `${f.alert.rule} on ${f.lookalike}`)).toEqual([]);
  });

  it('delivers every alert of the log to a subscribed auditor', () => {
    expect(result.notSeenOnFeed).toBe(0);
  });
});
