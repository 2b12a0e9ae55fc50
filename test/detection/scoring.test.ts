import { describe, expect, it } from 'vitest';
import { MATCH_SLACK_MS, score } from '../../bench/detection/scoring.js';
import type { Alert, Label } from '../../bench/detection/scoring.js';

const HOUR = 3_600_000;
const spike: Label = { name: 'spike', kind: 'incident', user: 'a@x', rules: ['rate_spike'], tolerated: ['breadth'], from: 10 * HOUR, to: 11 * HOUR };
const newTool: Label = { name: 'new tool', kind: 'incident', user: 'b@x', rules: ['first_use_by_role', 'first_use_by_user'], tolerated: [], from: 10 * HOUR, to: 10 * HOUR };
const release: Label = { name: 'release day', kind: 'lookalike', user: '*', rules: ['rate_spike'], tolerated: [], from: 0, to: 24 * HOUR };
const alert = (rule: Alert['rule'], user: string, at: number): Alert => ({ rule, user, at, latencyMs: 5, summary: '' });

describe('scoring alerts against labels', () => {
  it('counts an alert of the incident\'s rule, for its user, in its stretch (and the slack after it), as true', () => {
    const { rules } = score([spike], [alert('rate_spike', 'a@x', 10.5 * HOUR), alert('rate_spike', 'a@x', 11 * HOUR + MATCH_SLACK_MS)]);
    expect(rules.find((r) => r.rule === 'rate_spike')).toMatchObject({ truePositives: 2, falsePositives: 0, precision: 1, recall: 1 });
  });

  it('counts another user, another rule or a time outside the stretch as a false alarm, named by the look-alike it fell in', () => {
    const result = score([spike, release], [alert('rate_spike', 'c@x', 10.5 * HOUR), alert('off_hours', 'a@x', 10.5 * HOUR), alert('rate_spike', 'a@x', 9 * HOUR)]);
    expect(result.rules.find((r) => r.rule === 'rate_spike')).toMatchObject({ truePositives: 0, falsePositives: 2, precision: 0, recall: 0 });
    expect(result.falseAlarms.map((f) => f.lookalike)).toEqual(['release day', 'release day', 'release day']);
  });

  it('counts a tolerated rule neither way', () => {
    const { rules } = score([spike], [alert('breadth', 'a@x', 10.5 * HOUR)]);
    expect(rules.find((r) => r.rule === 'breadth')).toMatchObject({ truePositives: 0, falsePositives: 0, tolerated: 1, precision: 1 });
  });

  it('needs each of an incident\'s rules for its recall on that rule', () => {
    const result = score([newTool], [alert('first_use_by_user', 'b@x', 10 * HOUR)]);
    expect(result.rules.find((r) => r.rule === 'first_use_by_user')!.recall).toBe(1);
    expect(result.rules.find((r) => r.rule === 'first_use_by_role')!.recall).toBe(0);
    expect(result.missed.map((m) => m.rule)).toEqual(['first_use_by_role']);
  });
});
