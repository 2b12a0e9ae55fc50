/**
 * Audit export (issue 20): the seam between the exporter, which follows the audit log
 * from each sink's durable cursor, and the transports (Splunk HEC, syslog over TLS,
 * OTLP/HTTP logs, JSON-lines files), each of which only sends one batch and says whether
 * the receiver acknowledged it. A transport keeps no cursor and retries nothing itself.
 */
import type { AuditEvent } from '../audit/types.js';

/** One event as a sink sends it: the record in the sink's format, with what transports put in their own envelope. */
export interface ExportItem {
  /** The audit event id (its cursor): every transport carries it for the receiver to de-duplicate. */
  id: string;
  event: AuditEvent;
  /** The event in the sink's format (OCSF or our own JSON). */
  record: Record<string, unknown>;
}

export interface ExportTransport {
  /**
   * Resolves once the receiver acknowledged the whole batch (HEC: 200 and code 0; OTLP: 2xx;
   * syslog: the TLS write flushed; file: written and synced); throws ExportNotAcknowledgedError
   * otherwise, the batch then counting as not sent at all.
   */
  send(batch: readonly ExportItem[], signal: AbortSignal): Promise<void>;
  /**
   * The id of the last event the receiver is known to hold, when the transport can read it
   * back (the file: its last line); the exporter skips up to it after a crash between a
   * send and its commit. Absent: such a crash repeats that batch (the receiver de-duplicates by id).
   */
  lastDelivered?(): Promise<string | null>;
  close(): Promise<void>;
}
