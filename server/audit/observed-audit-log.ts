import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import type { Metrics } from '../metrics.js';
import { activeTraceIds, inSpan } from '../tracing/spans.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditPosition, TrimPolicy } from './types.js';
import type { TailOptions } from './tail-pace.js';

/** A denial reason becomes a metric label only when it looks like one of ours: no client text, no unbounded label values. */
const REASON_LABEL = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The audit log as this broker appends to it: each append timed (and counted by type,
 * outcome and denial reason, which is what the calls and denials metrics are), and, when
 * tracing is on, a child span of whatever span is active, with that span's trace id in
 * the event's `data.traceId` (inside data, so the hashed field set stays as it is).
 * An append outside any trace gets neither.
 * Reading passes straight through.
 */
export class ObservedAuditLog implements AuditLog {
  /** The latency histogram's two series, bound once: an append on the hot path hashes no labels for them. */
  private readonly durations: Record<'ok' | 'failed', { observe(seconds: number): void }>;

  constructor(
    private readonly log: AuditLog,
    private readonly tracer: Tracer | null,
    private readonly metrics: Pick<Metrics, 'auditAppendDuration' | 'auditEvents' | 'denials'>,
  ) {
    this.durations = { ok: metrics.auditAppendDuration.labels('ok'), failed: metrics.auditAppendDuration.labels('failed') };
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    const { tracer } = this;
    // Only inside a traced operation: a background append (a checkpoint, the detector's) starts no trace of its own.
    const ids = tracer && activeTraceIds();
    if (!ids) return this.timed(input);
    return inSpan(tracer!, 'audit.append', { 'portcullis.audit.type': input.type }, () => this.timed({ ...input, data: { ...input.data, traceId: ids.traceId } }));
  }

  private async timed(input: AuditEventInput): Promise<AuditEvent> {
    const start = performance.now();
    try {
      const event = await this.log.append(input);
      this.durations.ok.observe((performance.now() - start) / 1000);
      this.counted(input);
      return event;
    } catch (error) {
      this.durations.failed.observe((performance.now() - start) / 1000);
      throw error;
    }
  }

  private counted(input: AuditEventInput): void {
    this.metrics.auditEvents.inc({ type: input.type, outcome: input.outcome });
    if (input.outcome !== 'DENIED') return;
    const reason = input.data?.reason;
    this.metrics.denials.inc({ type: input.type, reason: typeof reason === 'string' && REASON_LABEL.test(reason) ? reason : 'other' });
  }

  headHash(): Promise<string> {
    return this.log.headHash();
  }

  anchor(): ReturnType<AuditLog['anchor']> {
    return this.log.anchor();
  }

  checkpoint(options?: { final?: boolean }): Promise<AuditEvent | null> {
    return this.log.checkpoint(options);
  }

  trim(policy: TrimPolicy): Promise<number> {
    return this.log.trim(policy);
  }

  read(options: { after?: string; limit: number }): Promise<AuditEvent[]> {
    return this.log.read(options);
  }

  readBackward(options: { before?: string; limit: number }): Promise<AuditEvent[]> {
    return this.log.readBackward(options);
  }

  stored(): ReturnType<AuditLog['stored']> {
    return this.log.stored();
  }

  tail(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncIterable<AuditEvent> {
    return this.log.tail(position, signal, options);
  }
}
