import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { tokenExpiry } from '../../server/identity/principal.js';
import type { Principal } from '../../server/identity/principal.js';
import { CLOSE } from '../client-link.js';
import type { ClientChannel } from '../core/channel.js';
import { isRecord } from '../core/json.js';
import type { SessionCore } from '../core/session-core.js';
import type { JsonRpcError, JsonRpcId, Parsed } from '../jsonrpc.js';
import { EventLog, SseStream, whenClosed } from './sse.js';

/** What the standalone stream keeps for `Last-Event-ID` resumption (bounded per session: an instance holds thousands). */
const REPLAY_EVENTS = 1000;
const REPLAY_BYTES = 512 * 1024;
/** How long a session takes the token it last checked without asking the store again. */
const KNOWN_CREDENTIAL_MS = 60_000;

/** A message of a POST the core is handed, and what the edge must do about it. */
export interface Inbound {
  text: string;
  /** The text as parseFrame read it, so the core need not read it again. */
  parsed: Parsed;
  /** A request: its answer (and its progress, under the client's token) goes back on this POST. */
  awaits?: { id: JsonRpcId; progressToken?: string | number; initialize: boolean };
  /** notifications/cancelled: the request it names gets no answer. */
  cancels?: JsonRpcId;
}

/** How long a POST's answer may take before its response becomes a stream (headers out, keep-alive comments). */
const STREAM_AFTER_MS = 500;

/**
 * One POST's answer: the answers to the requests it carried, in one JSON body when they
 * come soon; on an SSE stream when the client asked for progress, or (if it accepts one)
 * once an answer takes longer than STREAM_AFTER_MS, so a long call keeps its connection
 * alive through proxies with keep-alive comments. A JSON-only client gets one body in any
 * case (progress then has nowhere to go). It ends once every request is answered or cancelled.
 */
class PostAnswer {
  private readonly collected: object[] = [];
  private left: number;
  private sse: SseStream | null = null;
  private readonly later: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    /** Opens the stream; null when the client takes JSON only. */
    private readonly stream: (() => SseStream) | null,
    requests: number,
    private readonly batch: boolean,
    progress: boolean,
  ) {
    this.left = requests;
    if (stream && progress) this.sse = stream();
    else if (stream) {
      this.later = setTimeout(() => this.toStream(), STREAM_AFTER_MS);
      this.later.unref();
    }
  }

  send(message: object, answers: boolean): void {
    if (!answers && !this.sse && this.stream) this.toStream();
    if (this.sse) this.sse.event(JSON.stringify(message));
    else if (answers) this.collected.push(message);
    if (answers) this.settle();
  }

  settle(): void {
    if (--this.left <= 0) this.finish();
  }

  finish(): void {
    clearTimeout(this.later);
    if (this.sse) return this.sse.end();
    if (this.res.headersSent || this.res.destroyed) return;
    // Every request of it cancelled: nothing to answer. A client that takes a stream gets an
    // empty one (clients read a POST's answer as JSON or a stream, and 204 is neither).
    if (this.collected.length === 0) {
      const empty = this.toStream();
      if (empty) return empty.end();
      return void this.res.writeHead(204).end();
    }
    this.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.batch ? this.collected : this.collected[0]));
  }

  /** The answer is slow (or progress came): the response becomes a stream, with what was collected so far (null: it cannot). */
  private toStream(): SseStream | null {
    if (this.sse || !this.stream || this.res.headersSent || this.res.destroyed) return this.sse;
    this.sse = this.stream();
    for (const message of this.collected.splice(0)) this.sse.event(JSON.stringify(message));
    return this.sse;
  }
}

interface Awaited {
  answer: PostAnswer;
  progressToken?: string | number;
  initialize: boolean;
}

/** What the core sends, as far as routing it needs. */
type Outbound = { id?: JsonRpcId | null; method?: string; params?: unknown; result?: unknown; error?: unknown };

/**
 * The Streamable HTTP edge of one SessionCore (MCP 2025-11-25, basic/transports): routes
 * what the core sends to the stream it belongs on. An answer goes on the POST that carried
 * its request, progress on the POST of the request it reports on, and everything else
 * (server requests, list changes, logging) on the standalone GET stream, numbered and kept
 * for resumption; while no GET stream is open they wait in that log and go out when one
 * opens. The core never learns it rides on HTTP.
 */
export class HttpSession implements ClientChannel {
  /** 256 random bits in base64url: visible ASCII, as the spec requires of Mcp-Session-Id. */
  readonly id = randomBytes(32).toString('base64url');
  core!: SessionCore;
  /** The version the session negotiated (batches only under 2025-03-26); the spec's default until then. */
  protocolVersion = DEFAULT_NEGOTIATED_PROTOCOL_VERSION;
  private readonly owner: string;
  private readonly awaiting = new Map<JsonRpcId, Awaited[]>();
  private readonly progress = new Map<string | number, PostAnswer>();
  private readonly posts = new Set<PostAnswer>();
  private readonly log = new EventLog(REPLAY_EVENTS, REPLAY_BYTES);
  private standalone: SseStream | null = null;
  /** The last event of the log written to a GET stream. */
  private delivered = 0;
  private readonly idle: NodeJS.Timeout;
  private closed = false;
  private credential: { digest: Buffer; principal: Principal; until: number } | null = null;

  constructor(
    principal: Principal,
    /** The endpoint path it was opened on: its id is unknown on any other. */
    readonly endpoint: string,
    private readonly timing: { idleTimeoutMs: number; keepAliveMs: number },
    private readonly onclosed: () => void,
  ) {
    this.owner = ownerOf(principal);
    // A session nobody uses still holds an upstream process; an open stream counts as use.
    this.idle = setTimeout(() => this.idleCheck(), timing.idleTimeoutMs);
    this.idle.unref();
  }

  /**
   * A session answers only the credential that opened it: another user's, and another
   * token of the same user, see it as unknown (so an id that leaks through a log or a
   * proxy is of no use without that very credential, and nothing tells them apart).
   */
  isOwnedBy(principal: Principal): boolean {
    // The principal knownPrincipal gave back was accepted as the owner's already.
    return principal === this.credential?.principal || ownerOf(principal) === this.owner;
  }

  /**
   * The principal of a request that presents the very Authorization header this session
   * last accepted, while that token is good: later requests of a session skip the store
   * lookup. A revoked token or ended authorization ends the session itself (credential
   * watch), so nothing is remembered past it; any other header is checked in full.
   */
  knownPrincipal(authorization: string | undefined, now: number): Principal | null {
    const known = this.credential;
    if (!known || authorization === undefined || now >= known.until) return null;
    const digest = digestOf(authorization);
    return timingSafeEqual(digest, known.digest) ? known.principal : null;
  }

  /**
   * Remembers the header a request of this session was accepted with (see knownPrincipal),
   * for at most a minute: a revocation whose event was lost is caught by the next full check.
   */
  accepted(authorization: string | undefined, principal: Principal, now: number): void {
    if (authorization === undefined || !this.isOwnedBy(principal)) return;
    if (this.credential && now < this.credential.until) return;
    this.credential = { digest: digestOf(authorization), principal, until: Math.min(tokenExpiry(principal), now + KNOWN_CREDENTIAL_MS) };
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** Hands a POST's messages to the core, in order; the requests among them are answered on `res`. */
  post(res: ServerResponse, inbound: readonly Inbound[], stream: boolean, batch: boolean): void {
    this.idle.refresh();
    const requests = inbound.filter((m) => m.awaits).length;
    if (requests > 0) {
      // MCP lets the server answer a request with JSON or a stream: a quick answer goes as one
      // JSON body (a stream costs three writes and a timer); progress, or a slow answer, streams.
      const progress = inbound.some((m) => m.awaits?.progressToken !== undefined);
      const open = stream ? () => new SseStream(res, this.timing.keepAliveMs, () => this.overflow()) : null;
      const answer = new PostAnswer(res, open, requests, batch, progress);
      this.posts.add(answer);
      whenClosed(res, () => {
        this.posts.delete(answer);
        this.idle.refresh();
      });
      for (const { awaits } of inbound) if (awaits) this.expect(awaits, answer);
    }
    for (const message of inbound) {
      this.core.receive(message.text, message.parsed);
      if (message.cancels !== undefined) this.cancelled(message.cancels);
    }
    if (requests === 0) res.writeHead(202).end();
  }

  /**
   * Opens the standalone stream: replays the log after `lastEventId`, or what no GET stream
   * has had yet. A new GET takes the place of one still open: a client reconnects when its
   * stream died on the way (a proxy, a network change) before the broker noticed. A GET
   * whose client left while its credential was checked takes nothing: the open stream stays,
   * and what no stream has had waits for the next one.
   */
  attach(res: ServerResponse, lastEventId: string | undefined): void {
    if (res.destroyed) return;
    this.standalone?.end();
    this.idle.refresh();
    const stream = new SseStream(res, this.timing.keepAliveMs, () => this.overflow());
    stream.onclose = () => {
      if (this.standalone === stream) this.standalone = null;
      this.idle.refresh();
    };
    this.standalone = stream;
    const resumeAfter = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) && Number(lastEventId) <= this.log.last() ? Number(lastEventId) : this.delivered;
    for (const event of this.log.after(resumeAfter)) stream.event(event.data, event.id);
    this.delivered = this.log.last();
  }

  send(message: object): void {
    if (this.closed) return;
    const m = message as Outbound;
    if (m.method === undefined) {
      // An answer with no id refuses a POST that was answered with it directly (400).
      if (m.id !== undefined && m.id !== null) this.answered(m.id, m);
      return;
    }
    const token = m.method === 'notifications/progress' && isRecord(m.params) ? m.params.progressToken : undefined;
    const post = typeof token === 'string' || typeof token === 'number' ? this.progress.get(token) : undefined;
    if (post) return post.send(message, false);
    this.toStandalone(message);
  }

  /**
   * The core ended the session: every POST still waiting is answered as the core answers its
   * calls in flight (an initialize sent while the session started hears why it ended, as
   * -32001 with data.reason when access ended), every stream ends, the id is forgotten.
   */
  close(_code: number, _reason: string, unanswered: (id: JsonRpcId) => JsonRpcError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idle);
    for (const [id, waiting] of this.awaiting) for (const { answer } of waiting) answer.send(unanswered(id), true);
    this.awaiting.clear();
    for (const answer of this.posts) answer.finish();
    this.standalone?.end();
    this.onclosed();
  }

  private expect(awaits: NonNullable<Inbound['awaits']>, answer: PostAnswer): void {
    const queue = this.awaiting.get(awaits.id) ?? [];
    queue.push({ answer, initialize: awaits.initialize, ...(awaits.progressToken === undefined ? {} : { progressToken: awaits.progressToken }) });
    this.awaiting.set(awaits.id, queue);
    if (awaits.progressToken !== undefined) this.progress.set(awaits.progressToken, answer);
  }

  private answered(id: JsonRpcId, message: Outbound): void {
    const queue = this.awaiting.get(id);
    if (!queue) return;
    // A second request under an id in flight is refused at once by the core: that refusal is the later POST's.
    const duplicate = isRecord(message.error) && isRecord(message.error.data) && message.error.data.reason === 'duplicate_request_id';
    const awaited = (duplicate ? queue.pop() : queue.shift())!;
    if (queue.length === 0) this.awaiting.delete(id);
    if (awaited.progressToken !== undefined) this.progress.delete(awaited.progressToken);
    if (awaited.initialize && isRecord(message.result) && typeof message.result.protocolVersion === 'string') this.protocolVersion = message.result.protocolVersion;
    awaited.answer.send(message, true);
  }

  /** The client gave up on a request: the core answers it no more, so its POST stops waiting for it. */
  private cancelled(id: JsonRpcId): void {
    const queue = this.awaiting.get(id);
    const awaited = queue?.shift();
    if (!awaited) return;
    if (queue!.length === 0) this.awaiting.delete(id);
    if (awaited.progressToken !== undefined) this.progress.delete(awaited.progressToken);
    awaited.answer.settle();
  }

  private toStandalone(message: object): void {
    const data = JSON.stringify(message);
    const id = this.log.append(data);
    if (!this.standalone?.isOpen()) return;
    this.standalone.event(data, id);
    this.delivered = id;
  }

  private idleCheck(): void {
    if (this.closed) return;
    if (this.posts.size > 0 || this.standalone?.isOpen()) return void this.idle.refresh();
    void this.core.end(1000, 'idle timeout', null);
  }

  private overflow(): void {
    void this.core.end(CLOSE.policy, 'client is not reading (send buffer full)', null);
  }
}

/** One-shot: a Hash object per request costs more than the digest (every Streamable HTTP call is a request). */
function digestOf(authorization: string): Buffer {
  return hash('sha256', authorization, 'buffer');
}

/** A user and the very credential (a token, or a sign-in) they came with. */
function ownerOf(principal: Principal): string {
  return `${principal.user.id}\n${principal.credential.kind}\n${principal.credential.id}`;
}
