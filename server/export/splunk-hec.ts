import { hostname } from 'node:os';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { ExportSinkConfig } from './export-config.js';
import { HttpPoster, PAYLOAD_TOO_LARGE } from './http-post.js';
import type { ExportItem, ExportTransport } from './types.js';

type HecConfig = Extract<ExportSinkConfig, { type: 'splunk-hec' }>;

/**
 * Splunk HTTP Event Collector: one POST per batch to /services/collector/event, the body
 * the event objects one after another (HEC's batch format), `Authorization: Splunk <token>`.
 * Acknowledged only by 200 with `{"code":0}` (HEC's "Success"); any other status or code
 * (4 invalid token, 6 invalid data format, 9 server busy…) is reported by number, never by
 * the receiver's text. Each event carries the audit id in `fields.portcullis_event_id`
 * (an indexed field, to de-duplicate on) besides the record's own id.
 */
export class SplunkHecTransport implements ExportTransport {
  private readonly poster: HttpPoster;
  private readonly url: string;
  private readonly host = hostname();

  constructor(private readonly config: HecConfig) {
    this.poster = new HttpPoster(config.name, config.tls, config.timeoutMs);
    this.url = `${config.url.replace(/\/+$/, '')}/services/collector/event`;
  }

  async send(batch: readonly ExportItem[], signal: AbortSignal): Promise<void> {
    const body = batch.map((item) => JSON.stringify(this.hecEvent(item))).join('\n');
    const answer = await this.poster.post(this.url, { authorization: `Splunk ${this.config.token}`, 'content-type': 'application/json' }, body, signal);
    const code = hecCode(answer.body);
    if (answer.status !== 200 || code !== 0) throw new ExportNotAcknowledgedError(this.config.name, `HTTP ${answer.status}, HEC code ${code ?? 'none'}`, undefined, answer.status === PAYLOAD_TOO_LARGE);
  }

  close(): Promise<void> {
    return this.poster.close();
  }

  private hecEvent(item: ExportItem): Record<string, unknown> {
    return {
      // Seconds with milliseconds: HEC's `time`.
      time: Date.parse(item.event.time) / 1000,
      host: this.host,
      source: 'portcullis',
      sourcetype: this.config.sourcetype,
      ...(this.config.index === undefined ? {} : { index: this.config.index }),
      event: item.record,
      fields: { portcullis_event_id: item.id, portcullis_event_type: item.event.type },
    };
  }
}

function hecCode(body: string): number | null {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code;
    return typeof code === 'number' ? code : null;
  } catch {
    return null;
  }
}
