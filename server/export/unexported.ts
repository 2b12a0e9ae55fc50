import type { AuditEvent, AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ExportCursorStore } from '../stores/types.js';

/**
 * How long count retention (`audit.retention.maxEvents`) waits for a sink that is behind:
 * without waiting, someone who floods the log while a receiver is down pushes what they did
 * before out of the log and out of the SIEM alike. Past it, the log's own bound wins (a sink
 * that is down for good must not grow the log without end), and an error says so.
 */
export const EXPORT_HOLD_MS = 24 * 3_600_000;

/**
 * The first event each sink has yet to send, when it is younger than EXPORT_HOLD_MS: what
 * the count rule of retention must keep (AuditLog.trim's `holdFrom`). Nothing is held for a
 * sink whose cursor cannot be read on from (retention already passed it, so holding saves
 * nothing it has not lost; or the log was reset behind it): the log's bound wins then.
 */
export async function unexportedEvents(deps: { sinks: readonly string[]; cursors: Pick<ExportCursorStore, 'cursor'>; audit: Pick<AuditLog, 'read'>; clock: Clock; logger: Logger }): Promise<string[]> {
  const held: string[] = [];
  for (const sink of deps.sinks) {
    let next: AuditEvent | undefined;
    try {
      const cursor = await deps.cursors.cursor(sink);
      [next] = await deps.audit.read({ ...(cursor === null ? {} : { after: cursor }), limit: 1 });
    } catch (error) {
      deps.logger.error({ err: error, sink }, 'audit export: cannot tell what this sink has yet to send; count retention holds nothing for it');
      continue;
    }
    if (next === undefined) continue;
    if (deps.clock.now() - Date.parse(next.time) <= EXPORT_HOLD_MS) held.push(next.id);
    else deps.logger.error({ sink, eventId: next.id, since: next.time }, 'audit export: this sink is more than 24 h behind; count retention no longer keeps what it has yet to send');
  }
  return held;
}
