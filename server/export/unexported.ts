import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { TrimmedCursorError } from '../errors.js';
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
 * the count rule of retention must keep (AuditLog.trim's `holdFrom`).
 */
export async function unexportedEvents(deps: { sinks: readonly string[]; cursors: Pick<ExportCursorStore, 'cursor'>; audit: Pick<AuditLog, 'read'>; clock: Clock; logger: Logger }): Promise<string[]> {
  const held: string[] = [];
  for (const sink of deps.sinks) {
    const cursor = await deps.cursors.cursor(sink);
    // A cursor retention already passed: the sink goes on from the oldest event kept (exporter.ts).
    const [next] = await deps.audit.read({ ...(cursor === null ? {} : { after: cursor }), limit: 1 }).catch((error: unknown) => {
      if (error instanceof TrimmedCursorError) return deps.audit.read({ limit: 1 });
      throw error;
    });
    if (next === undefined) continue;
    if (deps.clock.now() - Date.parse(next.time) <= EXPORT_HOLD_MS) held.push(next.id);
    else deps.logger.error({ sink, eventId: next.id, since: next.time }, 'audit export: this sink is more than 24 h behind; count retention no longer keeps what it has yet to send');
  }
  return held;
}
