import type { AuditEvent } from '../../server/audit/types.js';
import type { ExportSinkConfig } from '../../server/export/export-config.js';
import { exportSink } from '../../server/export/export-config.js';

/** Audit events as the log holds them (ids `1`, `2`…), for transports tested on their own. */
export function auditEvents(count: number, from = 1): AuditEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: String(from + i),
    type: i % 3 === 0 ? 'access_request.created' : 'mcp.request',
    outcome: i % 5 === 4 ? 'DENIED' : 'SUCCESS',
    actor: 'alice@example.com',
    server: 'everything',
    tool: i % 3 === 0 ? null : 'echo',
    sessionId: null,
    // Characters syslog structured data and JSON must escape.
    data: { note: `event ${from + i} "quoted" ] \\ ü` },
    time: new Date(Date.UTC(2026, 10, 30, 7, 0, 0, from + i)).toISOString(),
    prevHash: 'p'.repeat(64),
    hash: 'h'.repeat(64),
  }));
}

/** A sink's configuration as the schema completes it (defaults filled in). */
export function sinkConfig(raw: Record<string, unknown>): ExportSinkConfig {
  return exportSink.parse(raw);
}
