import { hostname } from 'node:os';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { ExportSinkConfig } from './export-config.js';
import { tlsOptions } from './tls-options.js';
import type { ExportItem, ExportTransport } from './types.js';

type SyslogConfig = Extract<ExportSinkConfig, { type: 'syslog' }>;

/** RFC 5424 §6.2.1 severities: SUCCESS informational (6), DENIED notice (5), ERROR error (3). */
const SEVERITY = { SUCCESS: 6, DENIED: 5, ERROR: 3 } as const;

/**
 * SD-ID of our structured data. An SD-ID of one's own takes `@<private enterprise number>`
 * (RFC 5424 §7.2.2); 32473 is the number RFC 5612 sets aside for documentation, kept until
 * the project has its own. Receivers match it as a fixed string.
 */
export const SYSLOG_SD_ID = 'portcullis@32473';

/**
 * Syslog over TLS (RFC 5425) to one receiver: RFC 5424 messages, each framed by octet
 * counting (`<length> <message>`, RFC 5425 §4.3 and RFC 6587 §3.4.1), the audit id in the
 * structured data and the event type as MSGID. TCP syslog has no acknowledgment of its own:
 * a batch counts as delivered once the TLS write is flushed to the kernel. A crash (or a
 * receiver that dies) between that flush and the receiver reading it may lose or, after a
 * restart from the cursor, repeat that last batch; receivers de-duplicate by the id.
 */
export class SyslogTlsTransport implements ExportTransport {
  private socket: TLSSocket | null = null;
  private readonly hostname: string;

  constructor(private readonly config: SyslogConfig) {
    this.hostname = config.hostname ?? (hostname() || '-');
  }

  async send(batch: readonly ExportItem[], signal: AbortSignal): Promise<void> {
    const socket = await this.connected(signal);
    const frames = batch.map((item) => frame(this.message(item)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail('timed out'), this.config.timeoutMs);
      const onClose = () => fail('connection closed');
      const fail = (why: string, cause?: unknown) => {
        cleanup();
        this.drop();
        reject(new ExportNotAcknowledgedError(this.config.name, why, cause));
      };
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('close', onClose);
      };
      socket.once('close', onClose);
      socket.write(Buffer.concat(frames), (error) => {
        if (error) return fail('write failed', error);
        cleanup();
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.end(resolve));
  }

  /** The open connection, or a new one (a receiver that closed ours, or never had one). */
  private async connected(signal: AbortSignal): Promise<TLSSocket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.socket;
    this.drop();
    const socket = connect({ host: this.config.host, port: this.config.port, ...tlsOptions(this.config.tls) });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('connect timed out')), this.config.timeoutMs);
      const fail = (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', fail);
        socket.destroy();
        reject(new ExportNotAcknowledgedError(this.config.name, socket.authorizationError ? 'receiver certificate not trusted' : 'cannot connect', error));
      };
      signal.addEventListener('abort', fail, { once: true });
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', fail);
        socket.off('error', fail);
        resolve();
      });
    });
    // A later error ends this connection (the next batch opens another); it must not go unhandled.
    socket.on('error', () => this.socket === socket && this.drop());
    this.socket = socket;
    return socket;
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  /** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` (RFC 5424 §6). */
  private message(item: ExportItem): string {
    const { event } = item;
    const pri = this.config.facility * 8 + SEVERITY[event.outcome];
    const sd = `[${SYSLOG_SD_ID} id="${sdValue(item.id)}" type="${sdValue(event.type)}" outcome="${event.outcome}"]`;
    return `<${pri}>1 ${event.time} ${this.hostname} ${this.config.appName} ${process.pid} ${msgId(event.type)} ${sd} ${JSON.stringify(item.record)}`;
  }
}

/** RFC 6587 §3.4.1 octet counting: the length in octets, a space, the message. */
function frame(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}

/** PARAM-VALUE escapes `"`, `\` and `]` (RFC 5424 §6.3.3). */
function sdValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** MSGID: 1-32 printable ASCII characters. */
function msgId(type: string): string {
  return type.replace(/[^\x21-\x7e]/g, '_').slice(0, 32) || '-';
}
