import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { LoggedSpanExporter } from './logged-exporter.js';

/**
 * The broker's tracing: `tracer` is null when `observability.tracing` is off, and every
 * traced place tests it and runs its plain path then (no span, no context, no allocation).
 */
export interface Tracing {
  readonly tracer: Tracer | null;
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** Longest the last export may take at shutdown. */
const SHUTDOWN_EXPORT_MS = 3_000;

export const NO_TRACING: Tracing = { tracer: null, shutdown: async () => {} };

/**
 * A tracer provider of this broker's own, exporting by OTLP/HTTP (JSON), its export
 * failures logged (logged-exporter.ts). Its tracer is handed to what it traces, never
 * looked up globally, so several brokers in one process (tests) keep their spans apart.
 * The async context manager and the W3C propagator are process-wide by nature (the API
 * reads the active span and the traceparent through them): the first broker with tracing
 * on registers them (and its provider as the global one, which nothing of ours reads), and
 * later registrations leave them as they are. The SDK's default propagator reads and writes
 * `tracestate` and `baggage` too: spans.ts takes only the traceparent through it, both ways.
 */
export function startTracing(config: PortcullisConfig['observability']['tracing'], logger: Logger): Tracing {
  if (!config.enabled || config.endpoint === undefined) return NO_TRACING;
  const exporter = new LoggedSpanExporter(new OTLPTraceExporter({ url: config.endpoint, headers: config.headers }), logger, config.endpoint);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplingRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  return {
    tracer: provider.getTracer('portcullis'),
    // A collector that does not answer must not eat the process's shutdown budget (main.ts SHUTDOWN_GRACE_MS).
    shutdown: () => Promise.race([provider.shutdown(), sleep(SHUTDOWN_EXPORT_MS, undefined, { ref: false })]),
  };
}
