import type { AuditEvent, AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { InvalidCursorError } from '../errors.js';
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
 * nothing it has not lost; or the log was reset behind it): the log's bound wins then. A
 * store that cannot answer throws: the caller then trims by age only.
 */
export async function unexportedEvents(deps: { sinks: readonly string[]; cursors: Pick<ExportCursorStore, 'cursor'>; audit: Pick<AuditLog, 'read'>; clock: Clock; logger: Logger }): Promise<string[]> {
  const held: string[] = [];
  for (const sink of deps.sinks) {
    let next: AuditEvent | undefined;
    const cursor = await deps.cursors.cursor(sink);
    try {
      [next] = await deps.audit.read({ ...(cursor === null ? {} : { after: cursor }), limit: 1 });
    } catch (error) {
      // Anything else (the store unavailable) is thrown: then nothing is known to be sent, and the count waits (retention.ts).
      if (!(error instanceof InvalidCursorError)) throw error;
      deps.logger.error({ err: error, sink }, 'audit export: the sink\'s cursor is past retention or not in this log; count retention holds nothing for it');
      continue;
    }
    if (next === undefined) continue;
    if (deps.clock.now() - Date.parse(next.time) <= EXPORT_HOLD_MS) held.push(next.id);
    else deps.logger.error({ sink, eventId: next.id, since: next.time }, 'audit export: this sink is more than 24 h behind; count retention no longer keeps what it has yet to send');
  }
  return held;
}
