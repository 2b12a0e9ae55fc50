import type { AccessRequestRecord } from '../access/types.js';
import type { AuditEvent } from '../audit/types.js';
import type { NotificationSinkConfig } from '../config/schema.js';
import { severityRank } from '../detection/types.js';
import type { Severity } from '../detection/types.js';
import type { AccessStore } from '../stores/types.js';
import type { ReviewerRecipients } from './reviewer-recipients.js';
import type { NotificationEvent } from './types.js';

/** The status a request has as of each event about it (the stored record may have moved on since). */
const STATUS_AT: Record<string, string> = { 'access_request.created': 'PENDING', 'access_request.cancelled': 'CANCELLED', 'access_request.expired': 'EXPIRED' };

export interface EventSources {
  access: Pick<AccessStore, 'getRequest'>;
  reviewers: Pick<ReviewerRecipients, 'addressesFor'>;
  publicUrl: string;
}

/**
 * A NotificationEvent from an audit event, by allow-list: the event's type, time and actor,
 * the request from the access store (what a reviewer needs: never the grant's arguments),
 * the anomaly's summary fields; nothing else of `data` (tool-call parameters, tokens).
 * With the reviewers to address for a request, when `withRecipients` (a sink taking the
 * event addresses people): finding them reads the user directory, work no other sink needs.
 */
export async function notificationOf(event: AuditEvent, sources: EventSources, withRecipients: boolean): Promise<{ event: NotificationEvent; recipients: string[] }> {
  const link = (path: string) => new URL(path, sources.publicUrl).toString();
  const base: NotificationEvent = { id: event.id, type: event.type as NotificationEvent['type'], time: event.time, actor: event.actor, links: { console: link('/') } };
  const requestId = stringField(event.data, 'requestId');
  if (event.type.startsWith('access_request.') && requestId !== null) {
    // The created event is appended before the request is stored: read from the event what is not stored yet.
    const stored = await sources.access.getRequest(requestId);
    const record: RequestFields | null = stored ? { ...stored, requester: stored.requester.email } : event.type === 'access_request.created' ? requestFromCreated(event, requestId) : null;
    if (record === null) return { event: base, recipients: [] };
    const status = event.type === 'access_request.reviewed' ? (stringField(event.data, 'status') ?? record.status) : event.data.autoApprove === true ? 'APPROVED' : (STATUS_AT[event.type] ?? record.status);
    const request = {
      id: record.id,
      requester: record.requester,
      server: record.server,
      tools: [...record.tools],
      resources: [...record.resources],
      prompts: [...record.prompts],
      readOnly: record.readOnly,
      filedByAgent: record.filedByAgent ? { client: record.filedByAgent.client } : null,
      durationSeconds: record.durationSeconds,
      reason: record.reason,
      status,
    };
    const review = link(`/review?request=${encodeURIComponent(record.id)}`);
    const links = status === 'PENDING' ? { console: review, approve: review, deny: review } : { console: review };
    const recipients = !withRecipients ? [] : await sources.reviewers.addressesFor({ server: record.server, requester: record.requester, tools: record.tools, resources: record.resources, prompts: record.prompts });
    return { event: { ...base, request, links }, recipients };
  }
  if (event.type.startsWith('anomaly.')) {
    const id = stringField(event.data, 'anomalyId');
    const anomaly = { id: id ?? '', rule: stringField(event.data, 'rule') ?? '', severity: stringField(event.data, 'severity') ?? '', user: stringField(event.data, 'user') ?? '', summary: stringField(event.data, 'summary') ?? '' };
    return { event: { ...base, anomaly, links: { console: link(id === null ? '/anomalies' : `/anomalies/${encodeURIComponent(id)}`) } }, recipients: [] };
  }
  return { event: base, recipients: [] };
}

/** Whether `sink` sends to the recipients of each delivery (only email does: a chat channel or a webhook has its own audience). */
export function addressesPeople(sink: NotificationSinkConfig): boolean {
  return sink.type === 'email';
}

/** Whether `sink` takes this audit event: its type, its server (when the sink names servers), an anomaly's severity. */
export function sinkTakes(sink: NotificationSinkConfig, event: AuditEvent): boolean {
  if (!(sink.events as readonly string[]).includes(event.type)) return false;
  if (sink.servers !== undefined && event.server !== null && !sink.servers.includes(event.server)) return false;
  if (event.type.startsWith('anomaly.')) {
    const severity = stringField(event.data, 'severity') as Severity | null;
    return severity !== null && severityRank(severity) >= severityRank(sink.minSeverity);
  }
  return true;
}

function stringField(data: Record<string, unknown>, key: string): string | null {
  const value = data[key];
  return typeof value === 'string' ? value : null;
}

type RequestFields = Pick<AccessRequestRecord, 'id' | 'server' | 'tools' | 'resources' | 'prompts' | 'readOnly' | 'filedByAgent' | 'durationSeconds' | 'reason' | 'status'> & { requester: string };

/** The request as its `access_request.created` event records it (data: requester, its scope, durationSeconds, reason, filedByAgent). */
function requestFromCreated(event: AuditEvent, id: string): RequestFields | null {
  const { data } = event;
  const list = (key: string) => (Array.isArray(data[key]) ? (data[key] as unknown[]).filter((v): v is string => typeof v === 'string') : []);
  const requester = stringField(data, 'requester');
  if (requester === null || event.server === null || typeof data.durationSeconds !== 'number') return null;
  const agent = data.filedByAgent;
  const filedByAgent = typeof agent === 'object' && agent !== null ? { client: stringField(agent as Record<string, unknown>, 'client'), sessionId: stringField(agent as Record<string, unknown>, 'sessionId') ?? '' } : null;
  // What the event cannot vouch for reads as the wider: read-only only when it says so.
  return { id, requester, server: event.server, tools: list('tools'), resources: list('resources'), prompts: list('prompts'), readOnly: data.readOnly === true, filedByAgent, durationSeconds: data.durationSeconds, reason: stringField(data, 'reason') ?? '', status: 'PENDING' };
}
