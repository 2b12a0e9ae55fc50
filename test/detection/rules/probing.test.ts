import { describe, expect, it } from 'vitest';
import { requestEvent } from '../../../broker/request-audit.js';
import type { AuditEvent } from '../../../server/audit/types.js';
import { observe } from '../../../server/detection/observe.js';
import { probing } from '../../../server/detection/rules/probing.js';
import { DAY, MINUTE, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';
import type { DenialKind, Finding } from '../../../server/detection/types.js';

const AFTER = MONDAY + 15 * DAY + 10 * 60 * MINUTE;

function withHistory(): RuleDriver {
  const driver = new RuleDriver([probing]);
  runRoutine(driver, { start: MONDAY, days: 14, fromHour: 9, toHour: 17, perHour: 4 });
  return driver;
}

function denials(driver: RuleDriver, from: number, count: number, everyMs: number, kind: (i: number) => DenialKind = () => 'not_granted') {
  return Array.from({ length: count }, (_, i) => driver.feed({ at: from + i * everyMs, kind: 'denial', denial: kind(i), server: 'github', tool: `tool-${i}`, method: 'tools/call' })).flat();
}

/** A request the broker refused for a name no server of the session has, as the log records it and the detector reads it. */
function refusedName(driver: RuleDriver, at: number, reason: string, method: string, params: Record<string, unknown>): Finding[] {
  const event = { ...requestEvent({ jsonrpc: '2.0', id: 1, method, params }, null, 'DENIED', { reason }), id: '1', time: new Date(at).toISOString(), actor: 'alice@example.com', server: null } as AuditEvent;
  const { kind, denial, argumentsDigest } = observe(event, () => null)!;
  return driver.feed({ at, kind, denial, argumentsDigest, method });
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

  it('flags probing that never pauses for a window again every three windows, not once for ever (a suspended prober who reconnects is cut again)', () => {
    const driver = withHistory();
    // A refusal every 20 seconds for an hour: 12 windows' worth, never a quiet one.
    const found = denials(driver, AFTER, 180, 20_000);
    expect(found).toHaveLength(4);
    expect(driver.triggeredBy.map((id) => Number(id.split('-')[0]) - AFTER)).toEqual([180_000, 1_080_000, 1_980_000, 2_880_000]);
  });

  it('counts requests naming what no server of the session has (prompts, resources, tasks) as probes, beside refusals by the grant', () => {
    const found = denials(withHistory(), AFTER, 12, 5_000, (i) => (['unknown_name', 'not_granted'] as const)[i % 2]!);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ observed: { byKind: { unknown_name: 5, not_granted: 5 } } });
  });

  it('counts one unknown name refused again and again once: a client polling a task its session dropped (a grant ended, an upstream failed) is no prober', () => {
    const driver = withHistory();
    // Every 6 seconds for 5 minutes, by tasks/get and tasks/result alike; then a completion on each keystroke, and a dropped server's resource read again.
    for (let i = 0; i < 50; i++) expect(refusedName(driver, AFTER + i * 6_000, 'unknown_task', i % 5 === 4 ? 'tasks/result' : 'tasks/get', { taskId: 'github:task-7' })).toEqual([]);
    const ref = { type: 'ref/prompt', name: 'github:review' };
    for (let i = 0; i < 20; i++) expect(refusedName(driver, AFTER + 5 * MINUTE + i * 1_000, 'unknown_reference', 'completion/complete', { ref, argument: { name: 'pr', value: '1234'.slice(0, (i % 4) + 1) } })).toEqual([]);
    for (let i = 0; i < 20; i++) expect(refusedName(driver, AFTER + 6 * MINUTE + i * 1_000, 'unknown_resource', 'resources/read', { uri: 'github://repo/readme' })).toEqual([]);
  });

  it('counts every distinct unknown name: guessing resource URIs is flagged, however many repeats come between the guesses', () => {
    const driver = withHistory();
    const found: Finding[] = [];
    for (let i = 0; i < 12; i++) {
      found.push(...refusedName(driver, AFTER + i * 20_000, 'unknown_resource', 'resources/read', { uri: `file:///etc/secret-${i}` }));
      // The repeats take no place among the refusals counted: they cannot push the guesses out.
      for (let j = 1; j <= 10; j++) found.push(...refusedName(driver, AFTER + i * 20_000 + j * 1_000, 'unknown_task', 'tasks/get', { taskId: 'task-7' }));
    }
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ observed: { denials: 10, byKind: { unknown_name: 10 } } });
    expect(driver.triggeredBy).toHaveLength(1);
  });

  it('stays quiet on a couple of refusals after a grant expired, on rate limiting and other refusals', () => {
    expect(denials(withHistory(), AFTER, 3, 2_000)).toEqual([]);
    expect(denials(withHistory(), AFTER, 100, 1_000, () => 'rate_limited')).toEqual([]);
    // An agent retrying a changed tool until someone reviews it.
    expect(denials(withHistory(), AFTER, 100, 1_000, () => 'other')).toEqual([]);
  });

  it('judges a person in the warm-up too (a fixed threshold): a new or long-idle account probing at once is flagged', () => {
    expect(probing.judgesNewcomers).toBe(true);
    expect(denials(new RuleDriver([probing]), MONDAY, 30, 1_000)).toHaveLength(1);
  });

  it('keeps a bounded state however many refusals pass', () => {
    const driver = withHistory();
    denials(driver, AFTER, 5000, 1_000, (i) => (['not_granted', 'upgrade_refused', 'argument_not_allowed', 'token_refused'] as const)[i % 4]!);
    expect(driver.slotBytes('user:alice@example.com', probing)).toBeLessThan(2 * 1024);
    for (let i = 0; i < 5000; i++) refusedName(driver, AFTER + 2 * DAY + i * 1_000, 'unknown_resource', 'resources/read', { uri: `file:///guess-${i}` });
    expect(driver.slotBytes('user:alice@example.com', probing)).toBeLessThan(2 * 1024);
  });
});
