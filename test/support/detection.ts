import type { AuditEvent, AuditLog } from '../../server/audit/types.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { startDetector } from '../../server/detection/detector.js';
import type { Detector, DetectorTiming } from '../../server/detection/detector.js';
import { detectionId } from '../../server/detection/evaluator.js';
import type { Stores } from '../../server/stores/types.js';
import { captureLogs } from './log-capture.js';
import type { ManualClock } from './manual-clock.js';
import type { AnomalyRaiser, Detection, DetectionRule, Finding, Observation, RaisedBefore, RuleContext, RuleId } from '../../server/detection/types.js';

/**
 * A small real rule for the engine's tests: every fifth call of a user is an outlier. It
 * keeps its count in the user's state, so the count survives restarts and hand-overs only
 * if the engine keeps state right.
 */
export class EveryFifthCall implements DetectionRule {
  readonly id: RuleId = 'breadth';

  evaluate(observation: Observation, context: RuleContext): Finding | null {
    if (observation.kind !== 'call') return null;
    const slot = (context.user.slots.breadth ?? { calls: 0 }) as { calls: number };
    slot.calls++;
    context.user.slots.breadth = slot;
    if (slot.calls % 5 !== 0) return null;
    return { rule: this.id, severity: 'medium', score: 1, summary: `${observation.user} made call ${slot.calls}`, observed: { calls: slot.calls }, baseline: { every: 5 }, eventIds: [observation.event.id] };
  }
}

/**
 * Raises as the real raiser does, through the audit log: `anomaly.detected` then
 * `anomaly.response`, each skipped when a previous evaluator appended it already.
 */
export class AuditingRaiser implements AnomalyRaiser {
  readonly suppressed = new Set<string>();

  constructor(private readonly audit: AuditLog) {}

  async isSuppressed(user: string, rule: RuleId): Promise<boolean> {
    return this.suppressed.has(`${user}\0${rule}`);
  }

  async raise(detection: Detection, before: RaisedBefore): Promise<void> {
    const { id: anomalyId, rule, severity, user } = detection;
    const common = { actor: null, outcome: 'SUCCESS' as const, server: detection.server, tool: detection.tool, sessionId: detection.sessionId };
    if (before.detectedEventId === null) {
      await this.audit.append({ ...common, type: 'anomaly.detected', data: { anomalyId, rule, severity, score: detection.score, user, summary: detection.summary, observed: detection.observed, baseline: detection.baseline, eventIds: detection.eventIds, grantId: detection.grantId } });
    }
    if (!before.responded) await this.audit.append({ ...common, type: 'anomaly.response', data: { anomalyId, rule, severity, user, action: 'record', detail: null } });
  }
}

/** An allowed tools/call as the broker audits it. */
export function appendCall(audit: AuditLog, user: string, n: number): Promise<AuditEvent> {
  return audit.append({
    type: 'mcp.request',
    outcome: 'SUCCESS',
    actor: user,
    server: 'everything',
    tool: 'echo',
    sessionId: `s-${user}`,
    data: { method: 'tools/call', id: n, params: { name: 'echo', arguments: { message: `call ${n}` } }, grantId: null },
    bounded: ['params'],
  });
}

/** The detection ids EveryFifthCall should raise over a user's calls (every one of them counted, in order). */
export function everyFifth(calls: readonly AuditEvent[]): string[] {
  return calls.filter((_, i) => (i + 1) % 5 === 0).map((call) => detectionId('breadth', call.id));
}

/** How often each anomaly was detected and responded to, as the log records it. */
export async function raisedInLog(audit: AuditLog): Promise<Map<string, { detected: number; responded: number }>> {
  const raised = new Map<string, { detected: number; responded: number }>();
  let after: string | undefined;
  for (;;) {
    const page = await audit.read({ after, limit: 1000 });
    for (const event of page) {
      if (event.type !== 'anomaly.detected' && event.type !== 'anomaly.response') continue;
      const id = event.data.anomalyId as string;
      const counts = raised.get(id) ?? { detected: 0, responded: 0 };
      if (event.type === 'anomaly.detected') counts.detected++;
      else counts.responded++;
      raised.set(id, counts);
    }
    if (page.length === 0) return raised;
    after = page[page.length - 1]!.id;
  }
}

/** Each expected anomaly detected and responded to once, and no other. */
export function exactlyOnce(expected: readonly string[]): Map<string, { detected: number; responded: number }> {
  return new Map(expected.map((id) => [id, { detected: 1, responded: 1 }]));
}

/** Fast renewals on real timers; lease expiry on the test's clock (leaseClock), so a lease lapses only when a test moves it. */
export const FAST_DETECTOR_TIMING: Partial<DetectorTiming> = { renewIntervalMs: 20, leaseTtlMs: 1_000, commitIntervalMs: 20, retryMs: 20 };

/** A detector over `stores` with the EveryFifthCall rule, raising into the audit log, on the test's clock. */
export function startTestDetector(stores: Stores, clock: ManualClock, config: PortcullisConfig, options: { timing?: Partial<DetectorTiming>; logs?: ReturnType<typeof captureLogs> } = {}): Detector {
  return startDetector({
    config,
    audit: stores.audit,
    state: stores.detector,
    access: stores.access,
    rules: [new EveryFifthCall()],
    raiser: new AuditingRaiser(stores.audit),
    clock,
    leaseClock: clock,
    logger: (options.logs ?? captureLogs({ level: 'silent' })).logger,
    timing: { ...FAST_DETECTOR_TIMING, ...options.timing },
  });
}
