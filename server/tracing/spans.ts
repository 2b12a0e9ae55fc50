import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
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

/**
 * The trace a client's W3C `traceparent` header names (the root context without one, or with
 * a malformed one), and nothing else the client sent: the global propagator also reads
 * `tracestate` and `baggage`, which are the client's own words (W3C Baggage, "Security
 * Considerations": not to be trusted across trust boundaries). Kept, they would travel on in every
 * span of the broker (the SDK hands a parent's tracestate to its children) and to upstreams.
 */
export function remoteContext(headers: IncomingHttpHeaders): Context {
  const parent = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers));
  return parent ? bareSpanContext(parent, true) : ROOT_CONTEXT;
}

/**
 * Adds the active span's W3C `traceparent` to `headers` (nothing outside a trace): only its
 * ids and sampled flag, never a `tracestate` or `baggage`, whatever propagators are
 * registered (the SDK's default adds a baggage one). The config promises an upstream with
 * `propagateTraceContext` the traceparent alone; an upstream that trusted a client's baggage
 * (user, tenant) could otherwise be lied to through the broker.
 */
export function injectTraceparent(headers: Record<string, string>): void {
  const active = trace.getSpanContext(context.active());
  if (active) propagation.inject(bareSpanContext(active, false), headers);
}

function bareSpanContext({ traceId, spanId, traceFlags }: SpanContext, isRemote: boolean): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags, isRemote });
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
