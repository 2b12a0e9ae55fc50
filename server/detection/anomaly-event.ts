import type { AuditEvent } from '../audit/types.js';
import type { AnomalyRecord, RuleId, Severity } from './types.js';

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const object = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/**
 * An anomaly as its `anomaly.detected` event records it (data: anomalyId, rule, severity,
 * score, user, summary, observed, baseline, eventIds, grantId): what the API shows once the
 * store has dropped the record. What was done about it afterwards lives in later events,
 * so it reads as open with no responses.
 */
export function anomalyFromEvent(event: AuditEvent): AnomalyRecord {
  const { data } = event;
  return {
    id: text(data.anomalyId) ?? event.id,
    // As the detector wrote them, which this log's own hash chain vouches for.
    rule: text(data.rule) as RuleId,
    severity: text(data.severity) as Severity,
    score: typeof data.score === 'number' ? data.score : 0,
    summary: text(data.summary) ?? '',
    observed: object(data.observed),
    baseline: object(data.baseline),
    eventIds: Array.isArray(data.eventIds) ? data.eventIds.filter((id): id is string => typeof id === 'string') : [],
    at: event.time,
    user: text(data.user) ?? '',
    server: event.server,
    tool: event.tool,
    sessionId: event.sessionId,
    grantId: text(data.grantId),
    status: 'open',
    auditEventId: event.id,
    responses: [],
    acknowledgedBy: null,
    acknowledgedAt: null,
    note: null,
    version: 0,
  };
}
