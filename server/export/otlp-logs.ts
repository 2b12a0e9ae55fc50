import type { Logger } from '../log.js';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { ExportSinkConfig } from './export-config.js';
import { HttpPoster, PAYLOAD_TOO_LARGE } from './http-post.js';
import type { ExportItem, ExportTransport } from './types.js';

type OtlpConfig = Extract<ExportSinkConfig, { type: 'otlp' }>;

/** OTLP AnyValue (opentelemetry-proto common.proto) in the protobuf JSON mapping. */
type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: { key: string; value: AnyValue }[] } }
  | Record<string, never>;

/** SeverityNumber (logs data model): INFO 9, WARN 13, ERROR 17. */
const SEVERITY = { SUCCESS: [9, 'INFO'], DENIED: [13, 'WARN'], ERROR: [17, 'ERROR'] } as const;

/**
 * OTLP logs over HTTP (OTLP spec 1.x, "OTLP/HTTP"): one ExportLogsServiceRequest per batch,
 * JSON-encoded, POSTed to /v1/logs with the configured headers (auth: secrets). Each
 * record's body is the event in the sink's format as a structured value, its attributes
 * the audit id (`portcullis.event.id`, to de-duplicate on) and type. A 2xx acknowledges;
 * records the collector reports rejected in `partialSuccess` are rejected for good (the spec
 * says not to retry them): they are logged by count, and the batch counts as sent.
 */
export class OtlpLogsTransport implements ExportTransport {
  private readonly poster: HttpPoster;
  private readonly url: string;

  constructor(
    private readonly config: OtlpConfig,
    private readonly logger: Logger,
  ) {
    this.poster = new HttpPoster(config.name, config.tls, config.timeoutMs);
    this.url = `${config.url.replace(/\/+$/, '')}/v1/logs`;
  }

  async send(batch: readonly ExportItem[], signal: AbortSignal): Promise<void> {
    const body = JSON.stringify(this.request(batch));
    const answer = await this.poster.post(this.url, { ...this.config.headers, 'content-type': 'application/json' }, body, signal);
    if (answer.status < 200 || answer.status >= 300) throw new ExportNotAcknowledgedError(this.config.name, `HTTP ${answer.status}`, undefined, answer.status === PAYLOAD_TOO_LARGE);
    const rejected = rejectedRecords(answer.body);
    if (rejected > 0) this.logger.warn({ sink: this.config.name, rejected }, 'audit export: the OTLP collector rejected records of an acknowledged batch (partial success)');
  }

  close(): Promise<void> {
    return this.poster.close();
  }

  private request(batch: readonly ExportItem[]): Record<string, unknown> {
    const observed = `${BigInt(Date.now()) * 1_000_000n}`;
    return {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'portcullis' } }] },
          scopeLogs: [
            {
              scope: { name: 'portcullis.audit' },
              logRecords: batch.map((item) => {
                const [severityNumber, severityText] = SEVERITY[item.event.outcome];
                return {
                  timeUnixNano: `${BigInt(Date.parse(item.event.time)) * 1_000_000n}`,
                  observedTimeUnixNano: observed,
                  severityNumber,
                  severityText,
                  eventName: item.event.type,
                  body: anyValue(item.record),
                  attributes: [
                    { key: 'portcullis.event.id', value: { stringValue: item.id } },
                    { key: 'portcullis.event.type', value: { stringValue: item.event.type } },
                  ],
                };
              }),
            },
          ],
        },
      ],
    };
  }
}

export function anyValue(value: unknown): AnyValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  if (value !== null && typeof value === 'object') return { kvlistValue: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValue(v) })) } };
  return {};
}

function rejectedRecords(body: string): number {
  try {
    const rejected = (JSON.parse(body) as { partialSuccess?: { rejectedLogRecords?: unknown } }).partialSuccess?.rejectedLogRecords;
    return Number(rejected ?? 0) || 0;
  } catch {
    return 0;
  }
}
