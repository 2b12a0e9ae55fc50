import type { OutboxEntry } from '../stores/types.js';
import type { NotificationEvent } from './types.js';

/** A new outbox entry: owed to `sink` for `event`, due at once, its id `<sink>:<event id>` (stable across retries and replays). */
export function pendingEntry(sink: string, event: NotificationEvent, recipients: string[], now: number): OutboxEntry {
  return {
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
}
