import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '../audit/types.js';
import type { DetectorStateStore } from '../stores/types.js';
import { noteToolUse } from './entity-budgets.js';
import type { EntityCache } from './entity-cache.js';
import type { GrantRoles } from './grant-roles.js';
import { grantIdOf, observe } from './observe.js';
import { entityKey, toolId } from './types.js';
import type { Detection, DetectionConfig, DetectionRule, EntityState, Finding, Observation, RuleContext } from './types.js';

const DAY_MS = 86_400_000;

/** What the evaluator has done so far: the bench reads it. */
export interface EvaluationStats {
  /** Events read from the log (those that concern no user included). */
  events: number;
  /** Observations the rules judged or learned from. */
  observations: number;
  /**
   * Wall milliseconds spent in the synchronous part of evaluation (observing, updating
   * state, running the rules), store round trips left out: CPU time on a machine with a
   * core to spare, more on a loaded one (the waits for a core count too). Read with
   * performance.now(), as process.cpuUsage() would cost a few µs per event itself.
   */
  evaluationMs: number;
}

/**
 * One event through the rules: observe it, bring the entities it concerns into the cache
 * (from the store when they are not there), count it on each, and let every rule learn
 * from it and judge it. A user still learning their baseline (in the warm-up) is judged
 * only by the rules that need none of theirs (DetectionRule.judgesNewcomers).
 */
export class Evaluator {
  constructor(
    private readonly deps: {
      state: Pick<DetectorStateStore, 'load'>;
      roles: GrantRoles;
      rules: readonly DetectionRule[];
      config: DetectionConfig;
      cache: EntityCache;
      stats: EvaluationStats;
    },
  ) {}

  /** The detections this event raises (usually none). Throws StoreUnavailableError when state or grants cannot be read: nothing was changed then. */
  async evaluate(event: AuditEvent): Promise<Detection[]> {
    const { roles, cache, stats } = this.deps;
    stats.events++;
    const grantId = grantIdOf(event);
    if (grantId !== null && !roles.has(grantId)) await roles.load(grantId);
    let started = performance.now();
    const observation = observe(event, roles.roleOf);
    if (observation === null) {
      stats.evaluationMs += performance.now() - started;
      return [];
    }
    const userKey = entityKey('user', observation.user);
    const toolKey = toolKeyOf(observation);
    const roleKey = observation.role !== null ? entityKey('role', observation.role) : null;
    let user = cache.get(userKey);
    let tool = toolKey === null ? null : cache.get(toolKey);
    let role = roleKey === null ? null : cache.get(roleKey);
    if (user === undefined || tool === undefined || role === undefined) {
      stats.evaluationMs += performance.now() - started;
      const loaded = await this.load([user === undefined ? userKey : null, tool === undefined ? toolKey : null, role === undefined ? roleKey : null], observation.at);
      started = performance.now();
      user ??= loaded.get(userKey)!;
      if (tool === undefined) tool = loaded.get(toolKey!)!;
      if (role === undefined) role = loaded.get(roleKey!)!;
    }
    const at = observation.at;
    seen(user, at);
    cache.markDirty(userKey);
    if (tool !== null) {
      seen(tool, at);
      noteToolUse(tool, user, observation.user);
      cache.markDirty(toolKey!);
    }
    if (role !== null) {
      seen(role, at);
      cache.markDirty(roleKey!);
    }
    const { config } = this.deps;
    const warm = user.count >= config.warmupEvents && at - user.firstSeen >= config.warmupDays * DAY_MS;
    const context: RuleContext = { user, warm, tool, role, config };
    let detections: Detection[] | null = null;
    for (const rule of this.deps.rules) {
      const finding = rule.evaluate(observation, context);
      if (finding !== null && (warm || rule.judgesNewcomers === true)) (detections ??= []).push(detectionOf(finding, observation));
    }
    stats.observations++;
    stats.evaluationMs += performance.now() - started;
    return detections ?? [];
  }

  /** The keys' states, as stored or new (first seen now) when the store has none, added to the cache. */
  private async load(keys: (string | null)[], at: number): Promise<Map<string, EntityState>> {
    const wanted = keys.filter((key): key is string => key !== null);
    const loaded = await this.deps.state.load(wanted);
    for (const key of wanted) {
      const state = loaded.get(key) ?? { firstSeen: at, lastSeen: at, count: 0, slots: {} };
      loaded.set(key, state);
      this.deps.cache.add(key, state);
    }
    return loaded;
  }
}

/**
 * A tool's entity, for a call the grants let through or its result only: a refused call
 * names whatever tool the client sent, refusals are not held to the per-call rate limits,
 * and no rule judges one by its tool's state, so they would let anyone fill the store
 * with made-up tools (pushing real people's and tools' states out). A refusal counts on
 * the user alone. An allowed call still makes one whatever the upstream answers: whether
 * it succeeded is recorded only for large results, and the log holds no tool catalog, so
 * entity-budgets.ts keeps made-up names from displacing anyone else's state instead.
 */
function toolKeyOf(observation: Observation): string | null {
  if (observation.kind !== 'call' && observation.kind !== 'result') return null;
  return observation.server !== null && observation.tool !== null ? entityKey('tool', toolId(observation.server, observation.tool)) : null;
}

function seen(state: EntityState, at: number): void {
  if (at > state.lastSeen) state.lastSeen = at;
  state.count++;
}

/** A finding made a detection; its id depends only on the rule and the triggering event, so a replay derives the same one. */
export function detectionOf(finding: Finding, observation: Observation): Detection {
  const { event } = observation;
  return {
    ...finding,
    id: detectionId(finding.rule, event.id),
    at: event.time,
    user: observation.user,
    server: observation.server,
    tool: observation.tool,
    sessionId: event.sessionId,
    grantId: observation.grantId,
  };
}

export function detectionId(rule: string, eventId: string): string {
  return `an_${createHash('sha256').update(`${rule}\0${eventId}`).digest('base64url').slice(0, 22)}`;
}
