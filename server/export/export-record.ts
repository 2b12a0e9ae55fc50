import { toOcsf } from '../../clients/audit/ocsf.js';
import type { AuditEvent } from '../audit/types.js';
import type { ExportItem } from './types.js';

export type ExportFormat = 'ocsf' | 'json';

/**
 * An audit event in a sink's format. `json` is the event as the log holds it (hash chain
 * included, so a receiver can run the same verification as `portcullis audit verify`);
 * `ocsf` is the OCSF mapping, whose `metadata.uid` is the event id.
 */
export function exportItem(event: AuditEvent, format: ExportFormat): ExportItem {
  return { id: event.id, event, record: format === 'ocsf' ? toOcsf(event) : inFieldOrder(event) };
}

/** The members in one fixed order, whatever order the store keeps them in (Redis keeps canonical JSON: its members sorted). */
function inFieldOrder(event: AuditEvent): Record<string, unknown> {
  const { id, type, outcome, actor, server, tool, sessionId, data, time, prevHash, hash } = event;
  return { id, type, outcome, actor, server, tool, sessionId, data, time, prevHash, hash };
}

/** Where a record of the format carries the event id (what docs/siem.md tells SIEMs to de-duplicate on). */
export function idOfRecord(record: Record<string, unknown>, format: ExportFormat): string | null {
  const id = format === 'ocsf' ? (record.metadata as { uid?: unknown } | undefined)?.uid : record.id;
  return typeof id === 'string' ? id : null;
}
