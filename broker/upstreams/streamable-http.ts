import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { McpServerConfig } from '../../server/config/schema.js';
import { createParser } from 'eventsource-parser';
import type { Upstream } from './upstream.js';

type HttpServer = Extract<McpServerConfig, { transport: 'streamable-http' }>;
type JsonRpcId = string | number;

/** Keep-alive connection pools shared by every session of a broker (one TCP connection per call would cost a handshake each). */
export interface HttpAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

export function createHttpAgents(): HttpAgents {
  return { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
}

/** The same bound the stdio upstream puts on one message. */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Ending a session must not hang on an upstream that stopped answering. */
const DELETE_TIMEOUT_MS = 2_000;
/** Standalone GET stream: reopened after this (or the server's `retry`), given up after this many failed opens in a row. */
const RECONNECT_MS = 1_000;
const MAX_RECONNECTS = 3;

/**
 * An upstream reached over MCP Streamable HTTP (spec 2025-11-25, Transports), one MCP
 * session per client session, with the configured headers (credentials) on every
 * request. Written on node:http with a keep-alive agent the broker shares between
 * sessions: fetch (undici with web streams) cost the broker several hundred µs of CPU per
 * relayed call (bench/README.md). Each message is one POST; its answer comes back as
 * JSON or on an SSE stream; after `notifications/initialized` a GET stream carries what
 * the server sends on its own. Redirects are refused (a credential must not follow one).
 */
export class StreamableHttpUpstream implements Upstream {
  onmessage?: (message: unknown) => void;
  onclose?: (reason: string) => void;
  private readonly url: URL;
  private sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private initializeId: JsonRpcId | undefined;
  private readonly requests = new Set<ClientRequest>();
  private reconnect: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly server: HttpServer,
    private readonly agents: HttpAgents,
  ) {
    this.url = new URL(server.url);
  }

  async start(): Promise<void> {
    // Nothing to open before the client's initialize: the session starts with it.
  }

  async send(message: Record<string, unknown>): Promise<void> {
    if (message.method === 'initialize') this.initializeId = message.id as JsonRpcId;
    const res = await this.request('POST', { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, JSON.stringify(message));
    const session = res.headers['mcp-session-id'];
    if (typeof session === 'string') this.sessionId = session;
    const status = res.statusCode ?? 0;
    if (status === 202) {
      res.resume();
      if (message.method === 'notifications/initialized') this.openEventStream(undefined, 0);
      return;
    }
    // Messages stay short and hold nothing the upstream wrote: they end up in a close reason (at most 123 bytes).
    if (status < 200 || status >= 300) {
      res.resume();
      throw new Error(`upstream answered HTTP ${status}`);
    }
    const type = (res.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type === 'application/json') return this.deliver(JSON.parse(await readText(res)));
    if (type !== 'text/event-stream') {
      res.resume();
      throw new Error('upstream answered with an unexpected content type');
    }
    // Not awaited: the stream may carry the server's own requests before the answer.
    const answers = 'id' in message && 'method' in message ? (message.id as JsonRpcId) : undefined;
    this.consume(res, answers);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnect);
    for (const request of this.requests) request.destroy();
    // The spec asks clients to end the session they no longer need (405: the server keeps no sessions).
    if (this.sessionId === undefined) return;
    await this.request('DELETE', {}, undefined, DELETE_TIMEOUT_MS).then(
      (res) => void res.resume(),
      () => {},
    );
  }

  private request(method: string, headers: OutgoingHttpHeaders, body?: string, timeoutMs?: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const all: OutgoingHttpHeaders = { ...this.server.headers, ...headers };
      if (this.sessionId !== undefined) all['mcp-session-id'] = this.sessionId;
      if (this.protocolVersion !== undefined) all['mcp-protocol-version'] = this.protocolVersion;
      const https = this.url.protocol === 'https:';
      const request = (https ? httpsRequest : httpRequest)(this.url, { method, headers: all, agent: https ? this.agents.https : this.agents.http });
      this.requests.add(request);
      request.once('close', () => this.requests.delete(request));
      request.once('response', (res) => {
        // A connection lost mid-body errors the response; its reader (if any) sees that itself.
        res.on('error', () => {});
        resolve(res);
      });
      // `on`: the socket can fail again after the response began.
      request.on('error', reject);
      if (timeoutMs !== undefined) request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.end(body);
    });
  }

  private deliver(value: unknown): void {
    for (const message of Array.isArray(value) ? value : [value]) {
      const m = message as { id?: unknown; result?: { protocolVersion?: unknown } };
      // Later requests name the negotiated version (MCP-Protocol-Version header).
      if (m.id !== undefined && m.id === this.initializeId && typeof m.result?.protocolVersion === 'string') this.protocolVersion = m.result.protocolVersion;
      this.onmessage?.(message);
    }
  }

  /**
   * Reads an SSE stream to its end. The answer to `answers` (a POST's request) may not
   * have come when the server ends the stream: with an event id to resume from, a GET
   * picks it up (the spec's resumption); without one the session cannot go on.
   */
  private consume(res: IncomingMessage, answers: JsonRpcId | undefined): void {
    let answered = answers === undefined;
    let lastEventId: string | undefined;
    let retryMs: number | undefined;
    // Text read since the last complete event: one event may not outgrow MAX_MESSAGE_BYTES.
    let unread = 0;
    const parser = createParser({
      onEvent: (event) => {
        unread = 0;
        if (event.id !== undefined) lastEventId = event.id;
        if ((event.event ?? 'message') !== 'message' || event.data === '') return;
        const value: unknown = JSON.parse(event.data);
        if (!answered && (Array.isArray(value) ? value : [value]).some((m: { id?: unknown; method?: unknown }) => m.id === answers && m.method === undefined)) answered = true;
        this.deliver(value);
      },
      onRetry: (ms) => (retryMs = ms),
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      try {
        unread += chunk.length;
        if (unread > MAX_MESSAGE_BYTES) throw new Error('event stream message too large');
        parser.feed(chunk);
      } catch (error) {
        res.destroy(error as Error);
      }
    });
    res.once('close', () => {
      if (this.closing) return;
      if (answers === undefined) return this.scheduleEventStream(lastEventId, retryMs, 0);
      if (answered) return;
      if (lastEventId !== undefined) this.scheduleEventStream(lastEventId, retryMs, 0);
      else this.fail('upstream ended a response stream without answering');
    });
  }

  /** The GET stream for what the server sends unasked (or a resumed one, from `lastEventId`). */
  private openEventStream(lastEventId: string | undefined, failures: number): void {
    if (this.closing) return;
    const headers: OutgoingHttpHeaders = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    this.request('GET', headers).then(
      (res) => {
        // 405: the server offers no such stream, which the spec allows.
        if (res.statusCode === 405) return void res.resume();
        if (res.statusCode !== 200) {
          res.resume();
          return this.scheduleEventStream(lastEventId, undefined, failures + 1);
        }
        this.consume(res, undefined);
      },
      () => this.scheduleEventStream(lastEventId, undefined, failures + 1),
    );
  }

  private scheduleEventStream(lastEventId: string | undefined, retryMs: number | undefined, failures: number): void {
    if (this.closing) return;
    if (failures >= MAX_RECONNECTS) return this.fail('upstream event stream could not be reopened');
    this.reconnect = setTimeout(() => this.openEventStream(lastEventId, failures), retryMs ?? RECONNECT_MS);
    this.reconnect.unref();
  }

  private fail(reason: string): void {
    if (this.closing) return;
    void this.close();
    this.onclose?.(reason);
  }
}

async function readText(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) {
    text += chunk as string;
    if (text.length > MAX_MESSAGE_BYTES) {
      res.destroy();
      throw new Error('upstream message too large');
    }
  }
  return text;
}
