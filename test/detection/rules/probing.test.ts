import { describe, expect, it } from 'vitest';
import { probing } from '../../../server/detection/rules/probing.js';
import { DAY, MINUTE, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';
import type { DenialKind } from '../../../server/detection/types.js';

const AFTER = MONDAY + 15 * DAY + 10 * 60 * MINUTE;

function withHistory(): RuleDriver {
  const driver = new RuleDriver([probing]);
  runRoutine(driver, { start: MONDAY, days: 14, fromHour: 9, toHour: 17, perHour: 4 });
  return driver;
}

function denials(driver: RuleDriver, from: number, count: number, everyMs: number, kind: (i: number) => DenialKind = () => 'not_granted') {
  return Array.from({ length: count }, (_, i) => driver.feed({ at: from + i * everyMs, kind: 'denial', denial: kind(i), server: 'github', tool: `tool-${i}`, method: 'tools/call' })).flat();
}

describe('probing', () => {
  it('flags a burst of refusals once, with the count by kind and the refused events', () => {
    const driver = withHistory();
    const found = denials(driver, AFTER, 40, 10_000, (i) => (i % 4 === 3 ? 'token_refused' : 'not_granted'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'probing', severity: 'high', score: 1, observed: { denials: 10, windowSeconds: 300, byKind: { not_granted: 8, token_refused: 2 } }, baseline: { threshold: 10 } });
    expect(found[0]!.summary).toBe('alice@example.com was refused 10 times in 5 minutes (not_granted ×8, token_refused ×2); the threshold is 10: someone may be probing for access');
    expect(found[0]!.eventIds).toHaveLength(10);
    expect(found[0]!.eventIds.at(-1)).toBe(driver.triggeredBy[0]);
  });

  it('flags a second burst after a quiet gap', () => {
    const driver = withHistory();
    expect(denials(driver, AFTER, 12, 5_000)).toHaveLength(1);
    expect(denials(driver, AFTER + 60 * MINUTE, 12, 5_000)).toHaveLength(1);
  });

  it('stays quiet on a couple of refusals after a grant expired, on rate limiting and other refusals, and during warm-up', () => {
    expect(denials(withHistory(), AFTER, 3, 2_000)).toEqual([]);
    expect(denials(withHistory(), AFTER, 100, 1_000, () => 'rate_limited')).toEqual([]);
    // An agent retrying a changed tool until someone reviews it.
    expect(denials(withHistory(), AFTER, 100, 1_000, () => 'other')).toEqual([]);
    expect(denials(new RuleDriver([probing]), MONDAY, 30, 1_000)).toEqual([]);
  });

  it('keeps a bounded state however many refusals pass', () => {
    const driver = withHistory();
    denials(driver, AFTER, 5000, 1_000, (i) => (['not_granted', 'upgrade_refused', 'argument_not_allowed', 'token_refused'] as const)[i % 4]!);
    expect(driver.slotBytes('user:alice@example.com', probing)).toBeLessThan(2 * 1024);
  });
});
