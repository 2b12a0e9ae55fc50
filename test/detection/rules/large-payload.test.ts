import { describe, expect, it } from 'vitest';
import { largePayload } from '../../../server/detection/rules/large-payload.js';
import { DAY, MINUTE, MONDAY, RuleDriver } from '../../support/rule-driver.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** `calls` calls of one tool, a minute apart; `result(i)` is the size of the i-th result when it was big enough to be audited. */
function history(driver: RuleDriver, calls: number, result: (i: number) => number | null, tool = 'search_code') {
  const found = [];
  for (let i = 0; i < calls; i++) {
    const at = MONDAY + i * MINUTE;
    found.push(...driver.feed({ at, server: 'github', tool, paramsBytes: 200 + (i % 9) * 20 }));
    const bytes = result(i);
    if (bytes !== null) found.push(...driver.feed({ at: at + 100, kind: 'result', server: 'github', tool, resultBytes: bytes, method: 'tools/call' }));
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
    expect(found).toMatchObject({ rule: 'large_payload', severity: 'medium', score: 16, observed: { direction: 'results', bytes: 2 * MIB, tool: 'github/search_code' }, baseline: { medianBytes: 16 * KIB, limitBytes: 128 * KIB, samples: 128 } });
    expect(found!.summary).toBe(
      "alice@example.com received a 2.0 MiB result from github/search_code, where this tool's results have a median of 16 KiB over its last 128 calls (limit 128 KiB): an outsized result can be data leaving in bulk",
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

  it('keeps a bounded state however many calls pass', () => {
    const driver = new RuleDriver([largePayload]);
    history(driver, 5000, (i) => (i % 2 === 0 ? 100 * KIB + i : null));
    expect(driver.slotBytes('tool:github/search_code', largePayload)).toBeLessThan(3 * 1024);
  });
});
