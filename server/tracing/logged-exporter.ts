import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '../log.js';

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];
/** ExportResultCode.SUCCESS of @opentelemetry/core (what the SDK's exporters report; core is not ours to import). */
const EXPORTED = 0;

/**
 * A span exporter whose failures reach the broker's log: the SDK only hands them to the
 * OpenTelemetry diag logger, which is silent unless set, and setting it is process-wide.
 * One warning (code TRACE_EXPORT_FAILED) when exports start failing, however long the
 * collector stays down (a batch goes every few seconds), and one line when they work again,
 * with how many batches and spans were lost meanwhile. Neither names more than the error's
 * kind and message and the collector's origin: never the export headers (API keys), nor
 * what the collector answered.
 */
export class LoggedSpanExporter implements SpanExporter {
  private failing: { batches: number; spans: number } | null = null;
  private readonly collector: string;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
    endpoint: string,
  ) {
    this.collector = new URL(endpoint).origin;
  }

  export(spans: Parameters<SpanExporter['export']>[0], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === EXPORTED) this.recovered();
      else this.failed(spans.length, result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  private failed(spans: number, error: Error | undefined): void {
    if (this.failing) {
      this.failing.batches++;
      this.failing.spans += spans;
      return;
    }
    this.failing = { batches: 1, spans };
    const reason = error ? `${error.name}: ${error.message}`.slice(0, 200) : 'unknown';
    this.logger.warn({ code: 'TRACE_EXPORT_FAILED', collector: this.collector, reason }, 'trace export failed: spans are dropped until the collector takes them again (not logged again until then)');
  }

  private recovered(): void {
    if (!this.failing) return;
    const { batches, spans } = this.failing;
    this.failing = null;
    this.logger.info({ code: 'TRACE_EXPORT_RECOVERED', collector: this.collector, lostBatches: batches, lostSpans: spans }, 'trace export works again');
  }
}
