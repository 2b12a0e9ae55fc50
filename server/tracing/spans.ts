import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';

// What traced code uses, on the API alone: the SDK and the exporter load only where tracing starts (tracing.ts).

/**
 * Runs `work` in a new active span (a child of the active one), ending it when `work`
 * settles; a throw marks it as an error (its message, never the values involved).
 */
export function inSpan<T>(tracer: Tracer, name: string, attributes: Attributes, work: (span: Span) => Promise<T>, parent: Context = context.active()): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The trace a client's W3C `traceparent` header names (the root context without one, or with a malformed one). */
export function remoteContext(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/**
 * The active span's trace and span ids (for a log line or an audit event), or undefined
 * outside a sampled trace: an id nobody exported would lead nowhere. The active span may be
 * a client's own (its traceparent, before the broker's span starts).
 */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const ids = trace.getActiveSpan()?.spanContext();
  if (!ids || !isSpanContextValid(ids) || (ids.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return { traceId: ids.traceId, spanId: ids.spanId };
}
