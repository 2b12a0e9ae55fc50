import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../server/config/schema.js';
import { closeAfterAnswer } from '../../server/http/closing-connections.js';
import { refusalOf, UpgradeRefused } from '../../server/http/upgrade-router.js';
import { mcpBearerChallenge } from '../../server/http/www-authenticate.js';
import { MCP_HTTP_PATH, MCP_SCOPE, SERVER_NAME_SEGMENT } from '../../server/oauth/resources.js';
import type { Principal } from '../../server/identity/principal.js';
import { ACCESS_DENIED, errorReply, INVALID_REQUEST, MAX_NESTING, nestedDeeperThan, PARSE_ERROR, parseFrame } from '../jsonrpc.js';
import type { JsonRpcError } from '../jsonrpc.js';
import { mcpAuthentication } from '../mcp-credential.js';
import type { McpAuthenticate } from '../mcp-credential.js';
import { refuseCredentialInUrl } from '../session-registry.js';
import type { BrokerDeps, SessionRegistry } from '../session-registry.js';
import { HttpSession } from './http-session.js';
import type { Inbound } from './http-session.js';

const MCP_HTTP_FEDERATED = MCP_HTTP_PATH;
const MCP_HTTP_PREFIX = `${MCP_HTTP_PATH}/`;
/** The express route of the endpoints; its text is the route label of their request metrics, whichever way a request came in. */
export const MCP_HTTP_ROUTE = [MCP_HTTP_FEDERATED, `${MCP_HTTP_PREFIX}:server`];
/** A server name as a path segment that needs no decoding: anything else (escapes, a trailing slash, other case) goes through express's routing. */
const PLAIN_SERVER_PATH = new RegExp(`^${MCP_HTTP_PREFIX}(${SERVER_NAME_SEGMENT})$`);

/** Who sent a request and where to: what express's routing gives the handler, or the direct route works out alike. */
export interface McpHttpTarget {
  /** The `:server` path segment, decoded; undefined for the federated endpoint. */
  server: string | undefined;
  /** The client's address as express's `req.ip` gives it (server.trustedProxies). */
  address: string | undefined;
  /** The request's URL as sent (path and query). */
  url: string;
}

/** The target of a request whose path is `/mcp` or `/mcp/<plain server name>` exactly (a query string aside); null for any other path. */
export function plainMcpPath(url: string): Pick<McpHttpTarget, 'server'> | null {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (path === MCP_HTTP_FEDERATED) return { server: undefined };
  const match = PLAIN_SERVER_PATH.exec(path);
  return match ? { server: match[1] } : null;
}

/** Protocol versions whose JSON-RPC batches MCP still allows (2025-06-18 dropped them). */
const BATCHING_VERSION = '2025-03-26';
/** What a refusal of the transport (not of a JSON-RPC message) carries as its JSON-RPC code. */
const TRANSPORT_ERROR = -32000;

/** A POST refused with a JSON-RPC error body; `audit` is ill-formed text the core still records. */
class PostRefused extends UpgradeRefused {
  constructor(
    readonly reply: JsonRpcError,
    readonly audit?: string,
  ) {
    super(400, reply.error.message);
  }
}

/**
 * The MCP Streamable HTTP endpoints (MCP 2025-11-25, basic/transports; 2025-06-18 and
 * 2025-03-26 clients too): `POST|GET|DELETE /mcp/:server` and `/mcp` (federated), a thin
 * edge over the same SessionRegistry and SessionCore as the WebSocket ones. Here lives only
 * what HTTP adds: Origin, session ids bound to their credential, Accept, the protocol
 * version header, bodies, and the streams (http-session.ts).
 */
export class StreamableHttpEdge {
  readonly router = express.Router();
  private readonly sessions = new Map<string, HttpSession>();
  private readonly origins: ReadonlySet<string>;

  constructor(
    private readonly registry: SessionRegistry,
    private readonly deps: BrokerDeps,
    private readonly authenticate: McpAuthenticate = mcpAuthentication(deps.identity.mcpAuthenticator),
  ) {
    const { publicUrl, allowedOrigins } = deps.config.server;
    this.origins = new Set([new URL(publicUrl).origin, ...allowedOrigins]);
    this.router.all(MCP_HTTP_ROUTE, (req, res) => void this.serve(req, res, { server: req.params.server as string | undefined, address: req.ip, url: req.originalUrl }));
  }

  /** Sessions end through the registry (shutdown); this only forgets what is left. */
  close(): void {
    this.sessions.clear();
  }

  /** Serves one request to the endpoints; never throws (every failure is answered). */
  async serve(req: IncomingMessage, res: ServerResponse, { server, address, url }: McpHttpTarget): Promise<void> {
    const endpoint = server === undefined ? MCP_HTTP_FEDERATED : `${MCP_HTTP_PREFIX}${server}`;
    // The canonical resource URL OAuth tokens are bound to (RFC 8707), as the authorization server names it.
    const { resources } = this.deps.identity;
    const resource = server === undefined ? resources.federated : resources.ofServer(server);
    try {
      if (this.checkOrigin(req, res)) return preflight(res);
      refuseCredentialInUrl(url);
      if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
        res.setHeader('allow', 'GET, POST, DELETE');
        throw new UpgradeRefused(405, 'use POST, GET or DELETE');
      }
      const sessionId = req.headers['mcp-session-id'];
      const known = typeof sessionId === 'string' ? this.sessions.get(sessionId) : undefined;
      const { authorization } = req.headers;
      const principal = (known?.endpoint === endpoint ? known.knownPrincipal(authorization, this.deps.clock.now()) : null) ?? (await this.authenticate(req.headers, address, resource));
      // After the credential: which servers exist is no one else's business.
      const named = server === undefined ? undefined : this.registry.server(server);
      if (sessionId === undefined && req.method === 'POST') return await this.initialize(req, res, principal, named, endpoint);
      if (typeof sessionId !== 'string') throw new UpgradeRefused(400, 'Bad Request: Mcp-Session-Id header is required');
      const session = this.sessions.get(sessionId);
      // Unknown, ended, another credential's, another endpoint's, or held by another instance:
      // all alike, so the client initializes again and nobody learns which it was.
      if (!session || !session.isOwnedBy(principal) || session.endpoint !== endpoint) throw new UpgradeRefused(404, 'Session not found');
      session.accepted(authorization, principal, this.deps.clock.now());
      checkProtocolVersion(req);
      if (req.method === 'POST') await this.post(req, res, session);
      else if (req.method === 'GET') this.stream(req, res, session);
      else {
        await session.core.end(1000, 'client ended the session', null);
        res.writeHead(204).end();
      }
    } catch (error) {
      this.refuse(req, res, error, resource);
    }
  }

  /**
   * A browser page on another origin must not drive a broker it reaches (DNS rebinding);
   * clients that are no browser send no Origin. A page of an allowed origin is let read the
   * answers (CORS), refusals and their challenges included (a browser client finds the
   * authorization server from a 401's WWW-Authenticate). Returns whether the request is a
   * CORS preflight of an allowed origin.
   */
  private checkOrigin(req: IncomingMessage, res: ServerResponse): boolean {
    // On every answer, as the CORS headers depend on the Origin: no cache may serve one origin's answer to another.
    res.setHeader('vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    if (!this.origins.has(origin)) throw new UpgradeRefused(403, 'Forbidden: this Origin may not call the MCP endpoints');
    // Bearer credentials only, never cookies: no Access-Control-Allow-Credentials.
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-expose-headers', CORS_EXPOSED);
    return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  }

  /** The first POST: an initialize request, let in by the same admission as a WebSocket upgrade. */
  private async initialize(req: IncomingMessage, res: ServerResponse, principal: Principal, named: McpServerConfig | undefined, endpoint: string): Promise<void> {
    const stream = acceptedAnswer(req);
    const { messages } = inboundOf(await this.body(req), false);
    if (!messages[0]!.awaits?.initialize) throw new UpgradeRefused(400, 'Bad Request: Mcp-Session-Id header is required (a session starts with initialize)');
    // Only here: a person without a grant may connect, to ask for one from inside the client.
    const admission = await this.registry.admit(principal, named, { transport: 'streamable-http' }, true);
    // A client gone during the checks never gets its session (nobody would learn its id): its place goes back, as on WebSocket.
    if (res.destroyed) return admission.lease.release();
    let session: HttpSession;
    try {
      this.registry.checkCapacity(admission);
      const { idleTimeoutSeconds, keepAliveSeconds } = this.deps.config.broker;
      session = new HttpSession(principal, endpoint, { idleTimeoutMs: idleTimeoutSeconds * 1000, keepAliveMs: keepAliveSeconds * 1000 }, () => this.sessions.delete(session.id));
      session.core = this.registry.open(admission, session, { transport: 'streamable-http' });
    } catch (error) {
      admission.lease.release();
      throw error;
    }
    this.sessions.set(session.id, session);
    session.accepted(req.headers.authorization, principal, this.deps.clock.now());
    res.setHeader('mcp-session-id', session.id);
    session.post(res, messages, stream, false);
  }

  private async post(req: IncomingMessage, res: ServerResponse, session: HttpSession): Promise<void> {
    const stream = acceptedAnswer(req);
    let body: ReturnType<typeof inboundOf>;
    try {
      body = inboundOf(await this.body(req), session.protocolVersion === BATCHING_VERSION);
    } catch (error) {
      // Ill-formed text is refused like on WebSocket: by the core, which audits it.
      if (error instanceof PostRefused && error.audit !== undefined) session.core.receive(error.audit);
      throw error;
    }
    // Ended while the body was read: nothing would ever answer its requests.
    if (session.isClosed()) throw new UpgradeRefused(404, 'Session not found');
    session.post(res, body.messages, stream, body.batch);
  }

  private stream(req: IncomingMessage, res: ServerResponse, session: HttpSession): void {
    if (!accepts(req, 'text/event-stream')) throw new UpgradeRefused(406, 'Not Acceptable: the GET stream is text/event-stream');
    const lastEventId = req.headers['last-event-id'];
    session.attach(res, typeof lastEventId === 'string' ? lastEventId : undefined);
  }

  /** The body as text, at most broker.maxFrameBytes (as a WebSocket frame), well-formed UTF-8 (as ws requires of text frames). */
  private async body(req: IncomingMessage): Promise<string> {
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) throw new UpgradeRefused(415, 'Unsupported Media Type: send application/json');
    const limit = this.deps.config.broker.maxFrameBytes;
    if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge(limit);
    const bytes = await readBody(req, limit);
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new PostRefused(errorReply(null, PARSE_ERROR, 'Parse error: the body is not UTF-8'));
    }
  }

  /** Every refusal, in one shape: its status, a Bearer challenge where one applies, and a JSON-RPC error body. */
  private refuse(req: IncomingMessage, res: ServerResponse, error: unknown, resource: string): void {
    const refusal = refusalOf(error);
    if (refusal.status >= 500 && !(error instanceof UpgradeRefused)) this.deps.logger.warn({ err: error }, 'MCP HTTP request refused');
    if (res.headersSent) return void res.end();
    // RFC 6750 §3: every refusal of a Bearer credential (400 invalid_request, 403 insufficient_scope) says why in the challenge too.
    if (refusal.status === 401 || refusal.challenge !== null) {
      res.setHeader('www-authenticate', mcpBearerChallenge({ metadataUrl: this.deps.identity.resources.metadataUrl(resource), scope: MCP_SCOPE }, refusal.challenge));
    }
    if (refusal.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(refusal.retryAfterSeconds));
    // A body left unread (a refusal before it was read) would stall a keep-alive connection.
    if (!req.complete) closeAfterAnswer(req, res);
    const code = refusal.status === 401 || refusal.status === 403 ? ACCESS_DENIED : TRANSPORT_ERROR;
    const body = error instanceof PostRefused ? error.reply : errorReply(null, code, refusal.text);
    res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  }
}

/** What a page of an allowed origin may send (MCP's headers, a bearer credential) and read (the session id, the challenge, when to retry). */
const CORS_REQUEST_HEADERS = 'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, traceparent, tracestate';
const CORS_EXPOSED = 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After';

/** The answer to a CORS preflight of an allowed origin (its headers set by checkOrigin): needs no credential, as browsers send none with it. */
function preflight(res: ServerResponse): void {
  res.setHeader('access-control-allow-methods', 'GET, POST, DELETE');
  res.setHeader('access-control-allow-headers', CORS_REQUEST_HEADERS);
  res.setHeader('access-control-max-age', '600');
  res.writeHead(204).end();
}

/** A body past broker.maxFrameBytes, whether its Content-Length says so or its chunks show it. */
function tooLarge(limit: number): UpgradeRefused {
  return new UpgradeRefused(413, `Payload Too Large: at most ${limit} bytes (broker.maxFrameBytes)`);
}

/** Each decode is whole (no `stream` option), so one decoder serves every request. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A request's body, with listeners rather than an async iterator (a Streamable HTTP call
 * is one request: the iterator's promises cost more than the read). Past `limit` bytes it
 * is refused and no more is read (the refusal closes the connection when the body was not
 * all in); a request that ends (aborted, failed) before its body does is refused too.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const closedEarly = () => Object.assign(new Error('the request closed before its body ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  // Gone while it was authenticated: no event will come.
  if (req.destroyed) return Promise.reject(closedEarly());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Read no further: the refusal then closes the connection once it is sent (refuse: `connection: close`).
      req.pause();
      settle(tooLarge(limit));
    };
    const onEnd = () => settle();
    const onClose = () => settle(closedEarly());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', settle);
    req.on('close', onClose);
  });
}

/** SSE when the client takes it (progress and server messages then reach it), else one JSON body; neither is 406. */
function acceptedAnswer(req: IncomingMessage): boolean {
  const stream = accepts(req, 'text/event-stream');
  if (!stream && !accepts(req, 'application/json')) throw new UpgradeRefused(406, 'Not Acceptable: accept application/json or text/event-stream');
  return stream;
}

function accepts(req: IncomingMessage, type: string): boolean {
  return (req.headers.accept ?? '').split(',').some((part) => part.split(';', 1)[0]!.trim().toLowerCase() === type);
}

/** After initialize the client names the negotiated version on every request; none means 2025-03-26 (transports §Protocol Version Header). */
function checkProtocolVersion(req: IncomingMessage): void {
  const version = req.headers['mcp-protocol-version'];
  if (version !== undefined && (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))) {
    throw new UpgradeRefused(400, `Bad Request: unsupported MCP-Protocol-Version (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
  }
}

/**
 * The messages of a POST body, each as the text the core is handed, classified as the core
 * will (parseFrame): so the edge knows which answers to wait for before the core decides.
 * A message the core would refuse without an id to answer under is refused here (400).
 */
function inboundOf(body: string, batching: boolean): { messages: Inbound[]; batch: boolean } {
  if (!body.trimStart().startsWith('[')) return { messages: [inbound(body)], batch: false };
  let batch: unknown;
  try {
    batch = JSON.parse(body);
  } catch {
    throw new PostRefused(errorReply(null, PARSE_ERROR, 'Parse error'));
  }
  if (!batching) throw new PostRefused(errorReply(null, INVALID_REQUEST, 'Invalid Request: batches are not supported (MCP 2025-06-18 dropped JSON-RPC batching)'));
  if (!Array.isArray(batch) || batch.length === 0) throw new PostRefused(errorReply(null, INVALID_REQUEST, 'Invalid Request: an empty batch'));
  // Each message is written out again below: one nested too deep would throw there (parseFrame refuses it alone).
  if (nestedDeeperThan(batch, MAX_NESTING + 1)) throw new PostRefused(errorReply(null, INVALID_REQUEST, `Invalid Request: nested deeper than ${MAX_NESTING} levels`));
  // JSON.stringify writes lone surrogates as escapes (ES2019): the core sees ill-formed text as it was sent.
  return { messages: batch.map((message) => inbound(JSON.stringify(message), true)), batch: true };
}

function inbound(text: string, inBatch = false): Inbound {
  const parsed = parseFrame(text);
  if (parsed.ok) {
    const message = parsed.message;
    if (message.kind === 'request') {
      const meta = !Array.isArray(message.params) && message.params?._meta;
      const token = typeof meta === 'object' && meta !== null ? (meta as { progressToken?: unknown }).progressToken : undefined;
      return { text, parsed, awaits: { id: message.id, initialize: message.method === 'initialize', ...(typeof token === 'string' || typeof token === 'number' ? { progressToken: token } : {}) } };
    }
    if (message.kind === 'notification' && message.method === 'notifications/cancelled') {
      const requestId = !Array.isArray(message.params) ? message.params?.requestId : undefined;
      if (typeof requestId === 'string' || typeof requestId === 'number') return { text, parsed, cancels: requestId };
    }
    return { text, parsed };
  }
  // Ill-formed text in a request with a usable id: the core refuses it under that id, on this POST.
  if (parsed.illFormed?.message.kind === 'request' && parsed.reply.id !== null) return { text, parsed, awaits: { id: parsed.reply.id, initialize: false } };
  throw new PostRefused(parsed.reply, parsed.illFormed && !inBatch ? text : undefined);
}
