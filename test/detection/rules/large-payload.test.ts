import { describe, expect, it } from 'vitest';
import { largePayload } from '../../../server/detection/rules/large-payload.js';
import { DAY, HOUR, MINUTE, MONDAY, RuleDriver } from '../../support/rule-driver.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** The tool's users: five people, so its rings fill with 128 sizes. */
const TEAM = ['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => `${name}@example.com`);

/** `calls` calls of one tool by `team` in turn, a minute apart; `result(i)` is the size of the i-th result when it was big enough to be audited. */
function history(driver: RuleDriver, calls: number, result: (i: number) => number | null, team = TEAM) {
  const found = [];
  for (let i = 0; i < calls; i++) {
    const at = MONDAY + i * MINUTE;
    const user = team[i % team.length]!;
    found.push(...driver.feed({ at, user, server: 'github', tool: 'search_code', paramsBytes: 200 + (i % 9) * 20 }));
    const bytes = result(i);
    if (bytes !== null) found.push(...driver.feed({ at: at + 100, user, kind: 'result', server: 'github', tool: 'search_code', resultBytes: bytes, method: 'tools/call' }));
  }
  return found;
}

const AFTER = MONDAY + 2 * DAY;
/** Mostly small results (never audited), now and then one just over the floor. */
const usual = (i: number) => (i % 4 === 0 ? 20 * KIB + (i % 7) * KIB : null);

describe('large_payload', () => {
  it('flags a result far larger than the tool’s usual, explaining the baseline it was judged by', () => {
    const driver = new RuleDriver([largePayload]);
    expect(history(driver, 200, usual)).toEqual([]);
    driver.feed({ at: AFTER, server: 'github', tool: 'search_code', paramsBytes: 250 });
    const [found, ...more] = driver.feed({ at: AFTER + 300, kind: 'result', server: 'github', tool: 'search_code', resultBytes: 2 * MIB });
    expect(more).toEqual([]);
    expect(found).toMatchObject({ rule: 'large_payload', severity: 'medium', score: 16, observed: { direction: 'results', bytes: 2 * MIB, tool: 'github/search_code' }, baseline: { medianBytes: 16 * KIB, limitBytes: 128 * KIB, samples: 128, people: 5 } });
    expect(found!.summary).toBe(
      "alice@example.com received a 2.0 MiB result from github/search_code, where this tool's results have a median of 16 KiB over 128 recent calls by 5 people (limit 128 KiB): an outsized result can be data leaving in bulk",
    );
    expect(found!.eventIds).toEqual([driver.triggeredBy[0]]);
  });

  it('flags outsized parameters', () => {
    const driver = new RuleDriver([largePayload]);
    history(driver, 200, usual);
    const [found] = driver.feed({ at: AFTER, server: 'github', tool: 'search_code', paramsBytes: 100 * KIB });
    expect(found).toMatchObject({ observed: { direction: 'params', bytes: 100 * KIB }, baseline: { limitBytes: 32 * KIB } });
    expect(found!.summary).toContain('sent 100 KiB of parameters to github/search_code');
  });

  it('flags a bulk export of outsized results once', () => {
    const driver = new RuleDriver([largePayload]);
    history(driver, 200, usual);
    const found = Array.from({ length: 20 }, (_, i) => [
      ...driver.feed({ at: AFTER + i * 30_000, server: 'github', tool: 'search_code', paramsBytes: 250 }),
      ...driver.feed({ at: AFTER + i * 30_000 + 200, kind: 'result', server: 'github', tool: 'search_code', resultBytes: 3 * MIB }),
    ]).flat();
    expect(found).toHaveLength(1);
  });

  it('stays quiet on a tool whose results are always big, and on a tool with too few samples', () => {
    const big = new RuleDriver([largePayload]);
    expect(history(big, 200, (i) => Math.round(MIB * (0.7 + (i % 7) * 0.1)))).toEqual([]);
    big.feed({ at: AFTER, server: 'github', tool: 'search_code', paramsBytes: 250 });
    expect(big.feed({ at: AFTER + 300, kind: 'result', server: 'github', tool: 'search_code', resultBytes: 1.5 * MIB })).toEqual([]);
    const young = new RuleDriver([largePayload]);
    expect(history(young, 20, usual)).toEqual([]);
    expect(young.feed({ at: AFTER, kind: 'result', server: 'github', tool: 'search_code', resultBytes: 5 * MIB })).toEqual([]);
  });

  it('judges someone alone on a tool by their own sizes', () => {
    const driver = new RuleDriver([largePayload]);
    expect(history(driver, 200, usual, [TEAM[0]!])).toEqual([]);
    const [found] = driver.feed({ at: AFTER, server: 'github', tool: 'search_code', paramsBytes: 100 * KIB });
    expect(found).toMatchObject({ observed: { direction: 'params', bytes: 100 * KIB }, baseline: { samples: 32, people: 1 } });
  });

  it('starts over a ring stored before sizes named who sent them', () => {
    const driver = new RuleDriver([largePayload]);
    const old = { log: Array.from({ length: 128 }, () => 8), next: 0, added: 128, baseline: null };
    driver.states.set('tool:github/search_code', { firstSeen: MONDAY, lastSeen: MONDAY, count: 128, slots: { large_payload: { params: old, results: { ...old } } } });
    expect(driver.feed({ at: AFTER, server: 'github', tool: 'search_code', paramsBytes: 100 * KIB })).toEqual([]);
    expect(driver.states.get('tool:github/search_code')!.slots.large_payload).toMatchObject({ params: { log: [16.64], who: [expect.any(String)] } });
  });

  it('keeps a bounded state however many calls pass', () => {
    const driver = new RuleDriver([largePayload]);
    const crowd = Array.from({ length: 300 }, (_, i) => `user-${i}@example.com`);
    history(driver, 5000, (i) => (i % 2 === 0 ? 100 * KIB + i : null), crowd);
    expect(driver.slotBytes('tool:github/search_code', largePayload)).toBeLessThan(5 * 1024);
  });
});

/**
 * One tool, one baseline for everyone who uses it: Mallory's own calls must not make the
 * baseline a colleague is judged by (with `revoke_grant` configured, a finding costs the
 * colleague their grant).
 */
describe('large_payload: a baseline one person cannot poison', () => {
  const MALLORY = 'mallory@example.com';
  const VICTIM = 'victim@example.com';
  const COLLEAGUE = 'colleague@example.com';
  const upload = (driver: RuleDriver, at: number, user: string, paramsBytes: number) => driver.feed({ at, user, server: 'docs', tool: 'upload_doc', paramsBytes });
  /** The victim and a colleague upload about 40 KB, 60 times over an hour. */
  const usualUploads = (driver: RuleDriver) => Array.from({ length: 60 }, (_, i) => upload(driver, MONDAY + i * MINUTE, i % 2 ? VICTIM : COLLEAGUE, 40_000 + (i % 7) * 500)).flat();
  const poison = (driver: RuleDriver, from: number, bytes = 46) => Array.from({ length: 100 }, (_, i) => upload(driver, from + i * 1000, MALLORY, bytes)).flat();

  it('does not flag a colleague’s usual upload after one person’s hundred tiny calls', () => {
    const driver = new RuleDriver([largePayload]);
    expect(usualUploads(driver)).toEqual([]);
    expect(poison(driver, AFTER)).toEqual([]);
    expect(upload(driver, AFTER + HOUR, VICTIM, 39 * KIB)).toEqual([]);
  });

  it('does not flag a colleague’s usual result after one person’s hundred calls with small results', () => {
    const driver = new RuleDriver([largePayload]);
    for (let i = 0; i < 60; i++) {
      const user = i % 2 ? VICTIM : COLLEAGUE;
      driver.feed({ at: MONDAY + i * MINUTE, user, server: 'docs', tool: 'export_space', paramsBytes: 80 });
      driver.feed({ at: MONDAY + i * MINUTE + 500, user, kind: 'result', server: 'docs', tool: 'export_space', resultBytes: 300 * KIB + i * 100 });
    }
    for (let i = 0; i < 100; i++) driver.feed({ at: AFTER + i * 1000, user: MALLORY, server: 'docs', tool: 'export_space', paramsBytes: 80 });
    driver.feed({ at: AFTER + HOUR, user: VICTIM, server: 'docs', tool: 'export_space', paramsBytes: 80 });
    expect(driver.feed({ at: AFTER + HOUR + 500, user: VICTIM, kind: 'result', server: 'docs', tool: 'export_space', resultBytes: 310 * KIB })).toEqual([]);
  });

  it('judges nobody by a baseline another single person holds most of', () => {
    const driver = new RuleDriver([largePayload]);
    expect(poison(driver, MONDAY)).toEqual([]);
    expect(upload(driver, MONDAY + HOUR, VICTIM, 39 * KIB)).toEqual([]);
  });

  it('still flags a genuine outlier against the baseline of several people, poisoned or not', () => {
    const driver = new RuleDriver([largePayload]);
    usualUploads(driver);
    poison(driver, AFTER);
    const [found] = upload(driver, AFTER + HOUR, VICTIM, 2 * MIB);
    expect(found).toMatchObject({ rule: 'large_payload', observed: { direction: 'params', bytes: 2 * MIB }, baseline: { people: 3 } });
    expect(found!.baseline.medianBytes).toBeGreaterThan(30_000);
  });
});
