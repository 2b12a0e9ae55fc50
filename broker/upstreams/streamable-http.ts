import { StringDecoder } from 'node:string_decoder';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import type { McpServerConfig } from '../../server/config/schema.js';
import { injectTraceparent } from '../../server/tracing/spans.js';
import { createParser } from 'eventsource-parser';
import type { Upstream } from './upstream.js';
import { isRecord } from '../core/json.js';

type HttpServer = Extract<McpServerConfig, { transport: 'streamable-http' }>;
type JsonRpcId = string | number;
type Headers = Record<string, string>;

/**
 * Keep-alive connection pools shared by every session of a broker (one TCP connection per
 * call would cost a handshake each): undici Agents, one pool per origin. Destroyed by
 * Broker.close.
 */
export interface HttpAgents {
  http: Agent;
  https: Agent;
}

export function createHttpAgents(): HttpAgents {
  // No redirect interceptor: undici hands a 3xx over as it is, never follows it. No time
  // limit by default (undici's is 300 s): a tool may run long, the GET stream stay quiet.
  const options = { headersTimeout: 0, bodyTimeout: 0 };
  return { http: new Agent(options), https: new Agent(options) };
}

/** The same bound the stdio upstream puts on one message. */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Ending a session must not hang on an upstream that stopped answering. */
const DELETE_TIMEOUT_MS = 2_000;
/**
 * Standalone GET stream: reopened after RECONNECT_MS, or after the server's `retry` held
 * between RECONNECT_MS and MAX_RECONNECT_MS, and given up after MAX_RECONNECTS failed opens
 * in a row. The floor: a server sending `retry: 0` and ending each stream at once would have
 * the broker reconnect back to back (every open that succeeds restarts the failure count).
 * The ceiling: setTimeout fires a delay past 2^31 - 1 ms at once, and one of hours would
 * leave the session deaf to what the server sends unasked.
 */
const RECONNECT_MS = 1_000;
const MAX_RECONNECT_MS = 60_000;
const MAX_RECONNECTS = 3;
const POST_HEADERS: Headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
/**
 * What an event stream carries besides the server's own requests and notifications: the
 * answer to a request (its id), what the server sends unasked (UNASKED: the standalone
 * GET stream), or nothing more (undefined: a POST of a notification or a response).
 */
const UNASKED = Symbol('unasked');
type Carries = JsonRpcId | typeof UNASKED;

/** What to do with a response body, chosen from its status and content type. */
interface BodySink {
  data(chunk: Buffer): void;
  /** The body ended; with an error when it did not end well. */
  end(error?: Error): void;
}
type Respond = (status: number, contentType: string) => BodySink;

/** The headers with the active span's `traceparent` alone (nothing is added outside a trace, or while tracing is off). */
function withTraceContext(headers: Headers): Headers {
  const carrier = { ...headers };
  injectTraceparent(carrier);
  return carrier;
}

/** Read to the end and dropped, so the connection can serve the next request. */
const DROP: BodySink = { data() {}, end() {} };

/**
 * An upstream reached over MCP Streamable HTTP (spec 2025-11-25, Transports), one MCP
 * session per client session, with the configured headers (credentials) on every
 * request. Written on undici's dispatcher API with keep-alive pools the broker shares
 * between sessions: fetch (undici with web streams) cost the broker several hundred µs of
 * CPU per relayed call and node:http's client about 40 µs (bench/README.md); the bodies
 * are read in the dispatch handler, with no stream or promise per response. Each message
 * is one POST; its answer comes back as JSON or on an SSE stream; after
 * `notifications/initialized` a GET stream carries what the server sends on its own.
 * Redirects are refused (a credential must not follow one).
 */
export class StreamableHttpUpstream implements Upstream {
  onmessage?: (message: unknown, bytes: number) => void;
  onclose?: (reason: string) => void;
  private readonly origin: string;
  private readonly path: string;
  private readonly agent: Agent;
  /** Set from the server's answers (MCP-Session-Id header). */
  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private initializeId: JsonRpcId | undefined;
  private readonly exchanges = new Set<Exchange>();
  /** Event streams waiting to be reopened: the standalone one, and resumptions of POST streams still owing an answer. */
  private readonly reconnects = new Set<NodeJS.Timeout>();
  /** The standalone GET stream was opened: from then on it is open or waiting to be reopened, never twice over. */
  private standalone = false;
  private closing = false;

  constructor(
    private readonly server: HttpServer,
    agents: HttpAgents,
  ) {
    const url = new URL(server.url);
    this.origin = url.origin;
    this.path = url.pathname + url.search;
    this.agent = url.protocol === 'https:' ? agents.https : agents.http;
  }

  async start(): Promise<void> {
    // Nothing to open before the client's initialize: the session starts with it.
  }

  send(message: Record<string, unknown>): Promise<void> {
    if (message.method === 'initialize') this.initializeId = message.id as JsonRpcId;
    const answers = 'id' in message && 'method' in message ? (message.id as JsonRpcId) : undefined;
    return new Promise((resolve, reject) => {
      // Messages stay short and hold nothing the upstream wrote: they end up in a close reason (at most 123 bytes).
      this.exchange('POST', this.server.propagateTraceContext ? withTraceContext(POST_HEADERS) : POST_HEADERS, JSON.stringify(message), undefined, (status, contentType) => {
        if (status === 202) {
          resolve();
          if (message.method === 'notifications/initialized') this.openStandaloneStream();
          return DROP;
        }
        if (status < 200 || status >= 300) {
          reject(new Error(`upstream answered HTTP ${status}`));
          return DROP;
        }
        const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
        if (type === 'application/json') {
          return jsonBody((value, bytes, error) => {
            if (error) return reject(error);
            try {
              this.deliver(value, bytes);
              resolve();
            } catch (error) {
              reject(error as Error);
            }
          });
        }
        if (type !== 'text/event-stream') {
          reject(new Error('upstream answered with an unexpected content type'));
          return DROP;
        }
        // Resolved now: the stream may carry the server's own requests before the answer.
        resolve();
        return this.eventStream(answers);
      }, (error) => reject(new Error(`upstream unreachable (${shortReason(error)})`, { cause: error })));
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const timer of this.reconnects) clearTimeout(timer);
    for (const exchange of this.exchanges) exchange.abort(new Error('upstream session closed'));
    // The spec asks clients to end the session they no longer need (405: the server keeps no sessions).
    if (this.sessionId === undefined) return;
    await new Promise<void>((resolve) => this.exchange('DELETE', {}, undefined, DELETE_TIMEOUT_MS, () => (resolve(), DROP), () => resolve()));
  }

  /** One request; `respond` picks what to do with the answer, `failed` hears of an error before it. */
  private exchange(method: Dispatcher.HttpMethod, headers: Headers, body: string | undefined, timeoutMs: number | undefined, respond: Respond, failed: (error: Error) => void): void {
    const all: Headers = { ...this.server.headers, ...headers };
    if (this.sessionId !== undefined) all['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion !== undefined) all['mcp-protocol-version'] = this.protocolVersion;
    const options: Dispatcher.DispatchOptions = { origin: this.origin, path: this.path, method, headers: all, body };
    // DELETE: sent once the session's other requests were aborted; it has a time limit of its own.
    if (timeoutMs !== undefined) options.headersTimeout = options.bodyTimeout = timeoutMs;
    const exchange = new Exchange(this, respond, failed);
    if (method !== 'DELETE') this.exchanges.add(exchange);
    try {
      this.agent.dispatch(options, exchange);
    } catch (error) {
      exchange.onError(error as Error);
    }
  }

  /** Called by an Exchange when it is over. */
  ended(exchange: Exchange): void {
    this.exchanges.delete(exchange);
  }

  private deliver(value: unknown, bytes: number): void {
    for (const message of Array.isArray(value) ? value : [value]) {
      // Later requests name the negotiated version (MCP-Protocol-Version header).
      if (this.initializeId !== undefined && isRecord(message) && message.id === this.initializeId && isRecord(message.result) && typeof message.result.protocolVersion === 'string') {
        this.protocolVersion = message.result.protocolVersion;
      }
      this.onmessage?.(message, bytes);
    }
  }

  /**
   * Reads an SSE stream to its end, then acts on what it `carries`. The standalone stream
   * is reopened. The answer to a request (on its POST's stream, or a resumption of it from
   * `resumedFrom`) may not have come when the server ends the stream: with an event id to
   * resume from, a GET picks it up (the spec's resumption); without one the session cannot
   * go on. A stream carrying nothing more just ends: reopening a GET for it would let the
   * server add one endless GET loop with every such POST (a `ping` it sends has the broker
   * POST a response).
   */
  private eventStream(carries: Carries | undefined, resumedFrom?: string): BodySink {
    let answered = false;
    let lastEventId = resumedFrom;
    let retryMs: number | undefined;
    // Text read since the last complete event: one event may not outgrow MAX_MESSAGE_BYTES.
    let unread = 0;
    const parser = createParser({
      onEvent: (event) => {
        unread = 0;
        if (event.id !== undefined) lastEventId = event.id;
        if ((event.event ?? 'message') !== 'message' || event.data === '') return;
        const value: unknown = JSON.parse(event.data);
        if (!answered && carries !== undefined && carries !== UNASKED && answers(value, carries)) answered = true;
        this.deliver(value, Buffer.byteLength(event.data));
      },
      onRetry: (ms) => (retryMs = ms),
    });
    // A character may straddle two chunks.
    const decoder = new StringDecoder('utf8');
    return {
      // Throwing aborts the request (its Exchange ends the body with the error).
      data: (chunk) => {
        unread += chunk.length;
        if (unread > MAX_MESSAGE_BYTES) throw new Error('event stream message too large');
        parser.feed(decoder.write(chunk));
      },
      end: () => {
        if (this.closing || carries === undefined || answered) return;
        if (carries === UNASKED || lastEventId !== undefined) this.scheduleEventStream(carries, lastEventId, retryMs, 0);
        else this.fail('upstream ended a response stream without answering');
      },
    };
  }

  private openStandaloneStream(): void {
    if (this.standalone) return;
    this.standalone = true;
    this.openEventStream(UNASKED, undefined, 0);
  }

  /** A GET stream: the standalone one, or the resumption of a request's stream from `lastEventId`. */
  private openEventStream(carries: Carries, lastEventId: string | undefined, failures: number): void {
    if (this.closing) return;
    const headers: Headers = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    this.exchange('GET', headers, undefined, undefined, (status) => {
      // 405: the server offers no such stream, which the spec allows.
      if (status === 405) return DROP;
      if (status !== 200) {
        this.scheduleEventStream(carries, lastEventId, undefined, failures + 1);
        return DROP;
      }
      return this.eventStream(carries, lastEventId);
    }, () => this.scheduleEventStream(carries, lastEventId, undefined, failures + 1));
  }

  private scheduleEventStream(carries: Carries, lastEventId: string | undefined, retryMs: number | undefined, failures: number): void {
    if (this.closing) return;
    if (failures >= MAX_RECONNECTS) return this.fail('upstream event stream could not be reopened');
    const delay = Math.min(Math.max(retryMs ?? RECONNECT_MS, RECONNECT_MS), MAX_RECONNECT_MS);
    const timer = setTimeout(() => {
      this.reconnects.delete(timer);
      this.openEventStream(carries, lastEventId, failures);
    }, delay);
    timer.unref();
    this.reconnects.add(timer);
  }

  private fail(reason: string): void {
    if (this.closing) return;
    void this.close();
    this.onclose?.(reason);
  }
}

/**
 * One request and its answer, as an undici dispatch handler: reads the two headers it
 * needs from the raw ones and hands the body to the sink `respond` chose.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private abortRequest: ((error?: Error) => void) | undefined;
  private abortedWith: Error | undefined;
  private sink: BodySink | undefined;
  private done = false;

  constructor(
    private readonly upstream: StreamableHttpUpstream,
    private readonly respond: Respond,
    private readonly failed: (error: Error) => void,
  ) {}

  abort(error: Error): void {
    if (this.abortRequest) this.abortRequest(error);
    else this.abortedWith = error;
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.abortedWith) return abort(this.abortedWith);
    this.abortRequest = abort;
  }

  onHeaders(status: number, raw: Buffer[], _resume: () => void, _statusText: string): boolean {
    // 1xx: informational, the answer follows.
    if (status < 200) return true;
    let contentType = '';
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length === 12 && name.toString('latin1').toLowerCase() === 'content-type') contentType = raw[i + 1]!.toString('latin1');
      else if (name.length === 14 && name.toString('latin1').toLowerCase() === 'mcp-session-id') this.upstream.sessionId = raw[i + 1]!.toString('latin1');
    }
    this.sink = this.respond(status, contentType);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.sink!.data(chunk);
    return true;
  }

  onComplete(_trailers: string[] | null): void {
    this.finish();
    this.sink?.end();
  }

  onError(error: Error): void {
    this.finish();
    if (this.sink) this.sink.end(error);
    else this.failed(error);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.upstream.ended(this);
  }
}

/** A JSON answer, at most MAX_MESSAGE_BYTES of it, parsed once it is whole. */
function jsonBody(done: (value: unknown, bytes: number, error?: Error) => void): BodySink {
  const chunks: Buffer[] = [];
  let bytes = 0;
  return {
    data(chunk) {
      bytes += chunk.length;
      if (bytes > MAX_MESSAGE_BYTES) throw new Error('upstream message too large');
      chunks.push(chunk);
    },
    end(error) {
      if (error) return done(undefined, bytes, new Error(error.message === 'upstream message too large' ? error.message : 'upstream response ended early'));
      let value: unknown;
      try {
        value = JSON.parse(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, bytes).toString('utf8'));
      } catch {
        return done(undefined, bytes, new Error('upstream answered with invalid JSON'));
      }
      done(value, bytes);
    },
  };
}

/** undici's error code (`UND_ERR_SOCKET`, `ECONNREFUSED`...) or class name: never text from the wire. */
function shortReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown error';
}

/** Whether a message (or a batch) from the server is the answer to request `id`. */
function answers(value: unknown, id: JsonRpcId): boolean {
  return (Array.isArray(value) ? value : [value]).some((m: unknown) => isRecord(m) && m.id === id && m.method === undefined);
}
