import type { AuditEventType } from '../audit/event-types.js';
import type { OutboxEntry } from '../stores/types.js';
import type { NotificationEvent } from './types.js';

/** The events whose message opens its subject: later ones of the same request or anomaly follow up on it (a Slack message updated). */
const OPENING_EVENTS: ReadonlySet<string> = new Set<AuditEventType>(['access_request.created', 'anomaly.detected']);

/** `<sink>:<request or anomaly id>`: what later deliveries of the same subject share (a Slack message updated); null for other events. */
export function subjectOf(entry: Pick<OutboxEntry, 'sink' | 'event'>): string | null {
  const subject = entry.event.request?.id ?? entry.event.anomaly?.id;
  return subject ? `${entry.sink}:${subject}` : null;
}

/**
 * A new outbox entry: owed to `sink` for `event`, due at once, its id `<sink>:<event id>`
 * (stable across retries and replays). `awaited`: later deliveries of its subject wait for it
 * when it opens the subject (the sink keeps memos).
 */
export function pendingEntry(sink: string, event: NotificationEvent, recipients: string[], now: number, awaited = false): OutboxEntry {
  const entry: OutboxEntry = {
    id: `${sink}:${event.id}`,
    sink,
    event,
    recipients,
    status: 'PENDING',
    attempts: 0,
    dueAt: now,
    claimedBy: null,
    claimedUntil: 0,
    lastError: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  const subject = subjectOf(entry);
  return awaited && subject !== null && OPENING_EVENTS.has(event.type) ? { ...entry, opens: subject } : entry;
}
