import { createServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestTls } from './certificates.js';

/** One event as an HTTP receiver got it: the audit id it carried, and the record. */
export interface ReceivedEvent {
  id: string;
  record: Record<string, unknown>;
  /** Date.now() when its request was complete (the bench times export lag by it). */
  at: number;
}

export interface HttpReceiver {
  /** The base URL a sink is configured with. */
  readonly url: string;
  readonly events: ReceivedEvent[];
  /** How many events each accepted request carried, in order. */
  readonly requests: number[];
  /** Requests refused by the receiver's own checks (token, path, format), with why. */
  readonly refused: string[];
  ids(): string[];
  /** Stops listening (a sink's connection is refused) until `start`, on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

type Handle = (req: IncomingMessage, body: string) => { status: number; answer: unknown; events?: Omit<ReceivedEvent, 'at'>[] };

/**
 * A Splunk HEC-compatible receiver over HTTPS (the test CA's certificate): checks the path,
 * `Authorization: Splunk <token>` and the batch format (JSON event objects one after
 * another, each with `time`, `event` and the audit id in `fields.portcullis_event_id`),
 * answering as HEC does: 200 `{"text":"Success","code":0}`, 401/403 with HEC's token codes,
 * 400 with code 6 for a malformed batch.
 */
/** `limits` is read at each request: a test may change it while the receiver runs. */
export function startHecReceiver(tls: TestTls, token: string, limits: { maxEventsPerRequest?: number; maxEventBytes?: number } = {}): Promise<HttpReceiver> {
  return startHttpsReceiver(tls, (req, body) => {
    if (req.url !== '/services/collector/event') return { status: 404, answer: { text: 'Not found', code: 404 } };
    const auth = req.headers.authorization;
    if (auth === undefined) return { status: 401, answer: { text: 'Token is required', code: 2 } };
    if (auth !== `Splunk ${token}`) return { status: 403, answer: { text: 'Invalid token', code: 4 } };
    const objects = concatenatedJson(body);
    const events = objects?.map((o) => ({ id: (o.fields as Record<string, unknown> | undefined)?.portcullis_event_id, record: o.event, time: o.time }));
    if (!events || events.length === 0 || events.some((e) => typeof e.id !== 'string' || typeof e.time !== 'number' || typeof e.record !== 'object' || e.record === null)) {
      return { status: 400, answer: { text: 'Invalid data format', code: 6 } };
    }
    // HEC's max_content_length, counted in events here so that a test can say where it falls.
    if (events.length > (limits.maxEventsPerRequest ?? Infinity)) return { status: 413, answer: { text: 'Content too large' } };
    if (events.some((e) => JSON.stringify(e.record).length > (limits.maxEventBytes ?? Infinity))) return { status: 413, answer: { text: 'Content too large' } };
    return { status: 200, answer: { text: 'Success', code: 0 }, events: events.map((e) => ({ id: e.id as string, record: e.record as Record<string, unknown> })) };
  });
}

/**
 * An OTLP/HTTP logs receiver over HTTPS: POST /v1/logs with a JSON ExportLogsServiceRequest
 * and the expected header; each log record's `portcullis.event.id` attribute and body kept.
 */
export function startOtlpReceiver(tls: TestTls, header: { name: string; value: string }): Promise<HttpReceiver> {
  return startHttpsReceiver(tls, (req, body) => {
    if (req.url !== '/v1/logs' || req.headers['content-type'] !== 'application/json') return { status: 404, answer: {} };
    if (req.headers[header.name.toLowerCase()] !== header.value) return { status: 401, answer: {} };
    try {
      const request = JSON.parse(body) as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: { stringValue?: string } }[]; body: unknown; timeUnixNano: string }[] }[] }[] };
      const records = request.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords));
      const events = records.map((record) => {
        const id = record.attributes.find((a) => a.key === 'portcullis.event.id')?.value.stringValue;
        if (id === undefined || !/^\d+$/.test(record.timeUnixNano)) throw new Error('log record without the event id or time');
        return { id, record: fromAnyValue(record.body) as Record<string, unknown> };
      });
      return { status: 200, answer: {}, events };
    } catch {
      return { status: 400, answer: {} };
    }
  });
}

/** OTLP AnyValue back to plain JSON (the inverse of the exporter's mapping). */
export function fromAnyValue(value: unknown): unknown {
  const v = value as Record<string, unknown>;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return ((v.arrayValue as { values?: unknown[] }).values ?? []).map(fromAnyValue);
  if ('kvlistValue' in v) return Object.fromEntries(((v.kvlistValue as { values?: { key: string; value: unknown }[] }).values ?? []).map((kv) => [kv.key, fromAnyValue(kv.value)]));
  return null;
}

async function startHttpsReceiver(tls: TestTls, handle: Handle): Promise<HttpReceiver> {
  const events: ReceivedEvent[] = [];
  const requests: number[] = [];
  const refused: string[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = Date.now();
      const result = handle(req, Buffer.concat(chunks).toString('utf8'));
      if (result.events) {
        events.push(...result.events.map((event) => ({ ...event, at })));
        requests.push(result.events.length);
      } else refused.push(`${result.status} ${JSON.stringify(result.answer)}`);
      res.writeHead(result.status, { 'content-type': 'application/json' }).end(JSON.stringify(result.answer));
    });
  };
  let server: Server = createServer({ cert: tls.server.cert, key: tls.server.privateKey }, onRequest);
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    events,
    requests,
    refused,
    ids: () => events.map((e) => e.id),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    start: async () => {
      server = createServer({ cert: tls.server.cert, key: tls.server.privateKey }, onRequest);
      await listen(port);
    },
  };
}

/** JSON values written one after another (HEC's batch format); null when the body is not that. */
function concatenatedJson(body: string): Record<string, unknown>[] | null {
  const objects: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}') {
      if (--depth === 0) {
        try {
          objects.push(JSON.parse(body.slice(start, i + 1)) as Record<string, unknown>);
        } catch {
          return null;
        }
      }
    } else if (depth === 0 && !/\s/.test(c!)) return null;
  }
  return depth === 0 ? objects : null;
}
