import { describe, expect, it } from 'vitest';
import type { AccessStore } from '../../server/stores/types.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { EntityCache } from '../../server/detection/entity-cache.js';
import { Evaluator } from '../../server/detection/evaluator.js';
import { GrantRoles } from '../../server/detection/grant-roles.js';
import { createRules } from '../../server/detection/rules/index.js';
import type { RuleId } from '../../server/detection/types.js';
import { DAY, detectionConfig, HOUR, MINUTE, MONDAY } from '../support/rule-driver.js';

const NEWCOMER = 'new@example.com';
/** Every grant was issued under role `dev`. */
const access: Pick<AccessStore, 'getGrant'> = { getGrant: async (id) => ({ id, rule: 'dev/request/0' }) as Awaited<ReturnType<AccessStore['getGrant']>> };

/**
 * The engine's evaluator over the shipped rules (default settings: a week and 50 events of
 * warm-up) and a store that knows nobody: what reaches the raiser, by rule.
 */
function engine() {
  const evaluator = new Evaluator({ state: { load: async () => new Map() }, roles: new GrantRoles(access), rules: createRules(detectionConfig()), config: detectionConfig(), cache: new EntityCache(1000), stats: { events: 0, observations: 0, evaluationMs: 0 } });
  let id = 0;
  const raised: RuleId[] = [];
  const feed = async (at: number, event: Partial<AuditEvent>) => {
    const detections = await evaluator.evaluate({ id: String(++id), time: new Date(at).toISOString(), type: 'mcp.request', outcome: 'SUCCESS', actor: NEWCOMER, server: 'github', tool: null, sessionId: 's-1', data: {}, ...event } as AuditEvent);
    raised.push(...detections.map((d) => d.rule));
  };
  const call = (at: number, tool: string, extra: { user?: string; grantId?: string; bytes?: number; clientInfo?: object } = {}) =>
    feed(at, { actor: extra.user ?? NEWCOMER, tool, data: { method: 'tools/call', grantId: extra.grantId ?? null, params: { name: tool, arguments: { text: 'x'.repeat(extra.bytes ?? 10) } } } });
  return { feed, call, raised };
}

describe('a person still in the warm-up (a new account, or one idle past stateTtlDays)', () => {
  it('is judged by the rules with a fixed threshold: probing', async () => {
    const { feed, raised } = engine();
    for (let i = 0; i < 12; i++) await feed(MONDAY + i * 10_000, { outcome: 'DENIED', tool: `admin-${i}`, data: { method: 'tools/call', reason: 'tool_not_granted' } });
    expect(raised).toEqual(['probing']);
  });

  it('is judged by breadth on the values of one tool (record after record), not on finding their way around tools', async () => {
    const { call, raised } = engine();
    for (let i = 0; i < 16; i++) await call(MONDAY + i * 20_000, `tool-${i}`);
    expect(raised).toEqual([]);
    for (let i = 0; i < 70; i++) await call(MONDAY + 6 * MINUTE + i * 5_000, 'export_record', { bytes: 10 + i });
    expect(raised).toEqual(['breadth']);
  });

  it('is judged against a tool’s baseline (large_payload) and a role’s (first_use_by_role), which are not theirs', async () => {
    const { call, raised } = engine();
    const colleagues = ['a@example.com', 'b@example.com', 'c@example.com'];
    // The role's and the tool's history, from colleagues more than a week before.
    for (let i = 0; i < 36; i++) await call(MONDAY + i * 10 * MINUTE, 'create_issue', { user: colleagues[i % 3]!, grantId: 'g-dev', bytes: 1000 });
    const later = MONDAY + 8 * DAY;
    await call(later, 'create_issue', { grantId: 'g-new', bytes: 1_000_000 });
    await call(later + MINUTE, 'delete_repo', { grantId: 'g-new' });
    expect(raised).toEqual(['large_payload', 'first_use_by_role']);
  });

  it('is not judged by the rules that compare them with their own history until it is long enough', async () => {
    const { feed, call, raised } = engine();
    await feed(MONDAY, { tool: null, data: { method: 'initialize', params: { clientInfo: { name: 'unknown-agent', version: '1' } } } });
    for (let i = 0; i < 3; i++) await call(MONDAY + 3 * HOUR + i * MINUTE, `tool-${i}`, { grantId: 'g-new' });
    // first_use_by_user, new_client, off_hours, rate_spike: no history of theirs to compare with. The role is new too.
    expect(raised).toEqual([]);
  });
});
