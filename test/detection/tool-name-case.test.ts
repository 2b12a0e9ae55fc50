import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { EntityCache } from '../../server/detection/entity-cache.js';
import { Evaluator } from '../../server/detection/evaluator.js';
import { GrantRoles } from '../../server/detection/grant-roles.js';
import { createRules } from '../../server/detection/rules/index.js';
import type { AccessStore } from '../../server/stores/types.js';
import { firstUseState, recordUse } from '../../server/detection/rules/first-use.js';
import { touch } from '../../server/detection/rules/recency-set.js';
import type { Detection, Observation } from '../../server/detection/types.js';
import { DAY, detectionConfig, MINUTE, MONDAY } from '../support/rule-driver.js';

/**
 * Many servers look tools up without regard to case, so `EXPORT_data` runs `export_data`.
 * Keyed by the name as sent, each case variant had a baseline, a place among a person's
 * tools and a role's, of its own: a fresh, empty one, where an outsized export went unjudged
 * (under `minSamples`). The detector keys a tool by its ASCII-lowercased name.
 */

const MALLORY = 'mallory@example.com';
const COLLEAGUES = ['a@example.com', 'b@example.com', 'c@example.com'];
/** Every grant was issued under role `dev`. */
const access: Pick<AccessStore, 'getGrant'> = { getGrant: async (id) => ({ id, rule: 'dev/request/0' }) as Awaited<ReturnType<AccessStore['getGrant']>> };

/** The engine's evaluator over the shipped rules, warm after a day and a call: what it raises, by rule. */
function engine() {
  const config = detectionConfig({ warmupDays: 1, warmupEvents: 1 });
  const evaluator = new Evaluator({ state: { load: async () => new Map() }, roles: new GrantRoles(access), rules: createRules(config), config, cache: new EntityCache(1000), stats: { events: 0, observations: 0, evaluationMs: 0 } });
  let id = 0;
  const raised: Detection[] = [];
  const call = async (at: number, user: string, tool: string, args: Record<string, unknown> = {}) => {
    const event = { id: String(++id), time: new Date(at).toISOString(), type: 'mcp.request', outcome: 'SUCCESS', actor: user, server: 'crm', tool, sessionId: `s-${user}`, data: { method: 'tools/call', grantId: 'g-1', params: { name: tool, arguments: args } }, prevHash: '', hash: '' } as AuditEvent;
    raised.push(...(await evaluator.evaluate(event)));
  };
  return { call, raised };
}

/** Colleagues' and Mallory's everyday use of export_data, a week before. */
async function history(call: ReturnType<typeof engine>['call']): Promise<void> {
  for (let i = 0; i < 36; i++) await call(MONDAY + i * 10 * MINUTE, [...COLLEAGUES, MALLORY][i % 4]!, 'export_data', { text: 'x'.repeat(1000) });
}

describe('a tool named in another case', () => {
  it('is judged against the tool\'s baseline: an outsized call of EXPORT_data is export_data\'s outlier', async () => {
    const { call, raised } = engine();
    await history(call);
    await call(MONDAY + 8 * DAY, MALLORY, 'EXPORT_data', { text: 'x'.repeat(1_000_000) });
    expect(raised.map((d) => d.rule)).toEqual(['large_payload']);
    // The anomaly names the tool as it was called.
    expect(raised[0]).toMatchObject({ tool: 'EXPORT_data', observed: { tool: 'crm/EXPORT_data' }, baseline: { samples: 36 } });
  });

  it('is no first use, by the person nor by the role', async () => {
    const { call, raised } = engine();
    await history(call);
    await call(MONDAY + 8 * DAY, MALLORY, 'Export_Data', { text: 'x'.repeat(1000) });
    expect(raised).toEqual([]);
  });

  it('counts as the same tool for breadth: case variants are no enumeration', async () => {
    const { call, raised } = engine();
    const variants = Array.from({ length: 16 }, (_, i) => [...'export_data'].map((c, j) => ((i >> j) & 1 ? c.toUpperCase() : c)).join(''));
    expect(new Set(variants).size).toBe(16);
    for (const [i, tool] of variants.entries()) await call(MONDAY + i * 20_000, MALLORY, tool, { id: 1 });
    expect(raised).toEqual([]);
  });

  it('folds ASCII letters only: a name differing in another letter\'s case is another tool', async () => {
    const { call, raised } = engine();
    await history(call);
    // U+0130 (İ) lowercases to "i̇" (two code points) in Unicode: the server may well tell it apart.
    await call(MONDAY + 8 * DAY, MALLORY, 'export_data_İ', { text: 'x'.repeat(1_000_000) });
    expect(raised.map((d) => d.rule)).toEqual(['first_use_by_user', 'first_use_by_role']);
  });
});

describe('state a version before the folding stored', () => {
  it('knows a tool recorded under its name as sent: no first use again after the upgrade, and kept under the folded name from then on', () => {
    const state = firstUseState();
    touch(state.servers, 'crm', MONDAY, 10);
    touch(state.tools, 'crm/getUser', MONDAY, 10);
    const observation = { kind: 'call', server: 'crm', tool: 'getUser', at: MONDAY + DAY } as Observation;
    expect(recordUse(state, observation, 10, 10)).toBeNull();
    expect(Object.keys(state.tools.last)).toEqual(['crm/getuser']);
    expect(recordUse(state, { ...observation, tool: 'deleteUser' }, 10, 10)).toMatchObject({ what: 'tool', tool: 'deleteUser' });
  });
});
