import { randomUUID } from 'node:crypto';
import type { AnomalyRecord, RuleId, Severity } from '../../server/detection/types.js';
import type { Stores } from '../../server/stores/types.js';

export interface SeedSpec {
  user: string;
  rule?: RuleId;
  severity?: Severity;
  server?: string;
  tool?: string;
  sessionId?: string;
  /** Refused calls appended as the triggering events (the probing rule's kind). */
  triggering?: number;
  /** Append the `anomaly.detected` event only, as if the store had dropped the record. */
  eventOnly?: boolean;
}

let lastSeededAt = 0;

/**
 * An anomaly as the detector raises one (the detector itself is not under test here): its
 * triggering events and its `anomaly.detected` event in the audit log, and its record in
 * the store.
 */
export async function seedAnomaly(stores: Stores, spec: SeedSpec): Promise<AnomalyRecord> {
  // Seeds a millisecond apart at least, so tests can expect newest first: anomalies raised
  // within one millisecond are listed by id (server/stores/anomaly-listing.ts).
  while (Date.now() <= lastSeededAt) await new Promise((resolve) => setTimeout(resolve, 1));
  const rule = spec.rule ?? 'probing';
  const severity = spec.severity ?? 'high';
  const server = spec.server ?? 'everything';
  const tool = spec.tool ?? 'delete_file';
  const sessionId = spec.sessionId ?? `s-${randomUUID()}`;
  const eventIds: string[] = [];
  for (let i = 0; i < (spec.triggering ?? 3); i++) {
    const event = await stores.audit.append({
      type: 'mcp.request',
      outcome: 'DENIED',
      actor: spec.user,
      server,
      tool,
      sessionId,
      data: { method: 'tools/call', id: i + 1, reason: 'tool_not_granted' },
    });
    eventIds.push(event.id);
  }
  const id = `an_${randomUUID()}`;
  const summary = `${spec.user} was refused ${eventIds.length} times in 5 minutes; the threshold is 2: someone may be probing for access`;
  const observed = { denials: eventIds.length, windowSeconds: 300 };
  const baseline = { threshold: 2 };
  const detected = await stores.audit.append({
    type: 'anomaly.detected',
    outcome: 'SUCCESS',
    actor: null,
    server,
    tool,
    sessionId,
    data: { anomalyId: id, rule, severity, score: 1.5, user: spec.user, summary, observed, baseline, eventIds, grantId: null },
  });
  const record: AnomalyRecord = {
    id,
    rule,
    severity,
    score: 1.5,
    summary,
    observed,
    baseline,
    eventIds,
    at: detected.time,
    user: spec.user,
    server,
    tool,
    sessionId,
    grantId: null,
    status: 'open',
    auditEventId: detected.id,
    responses: [{ action: 'record', outcome: 'SUCCESS', detail: null }],
    acknowledgedBy: null,
    acknowledgedAt: null,
    note: null,
    version: 1,
  };
  lastSeededAt = Date.parse(detected.time);
  if (!spec.eventOnly) await stores.anomalies.create(record, 10_000);
  return record;
}
