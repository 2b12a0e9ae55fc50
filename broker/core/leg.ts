import type { GrantSet } from '../grant-set.js';
import type { JsonRpcError, JsonRpcId } from '../jsonrpc.js';
import type { Upstream } from '../upstreams/upstream.js';
import { isRecord } from './json.js';

/** How an upstream answered a request the session sent it, or why it never will. */
export type LegAnswer =
  /** `bytes`: the size of the text the result came in, when the upstream said. */
  | { kind: 'result'; result: Record<string, unknown>; bytes?: number }
  | { kind: 'error'; error: JsonRpcError['error'] }
  | { kind: 'gone'; code: number; reason: string; detail: string }
  | { kind: 'cancelled' };

/**
 * Of a page of tools, whether each name is not read-only: no `readOnlyHint: true` and not
 * vouched for by the operator, in any of its definitions on the page.
 */
export function writableByName(tools: unknown, vouched: ReadonlySet<string>): Map<string, boolean> {
  const page = new Map<string, boolean>();
  if (!Array.isArray(tools)) return page;
  for (const tool of tools) {
    if (!isRecord(tool) || typeof tool.name !== 'string') continue;
    const { annotations } = tool;
    const writable = !vouched.has(tool.name) && !(isRecord(annotations) && annotations.readOnlyHint === true);
    page.set(tool.name, writable || page.get(tool.name) === true);
  }
  return page;
}

/** What a session needs to add one of the operator's servers as a leg. */
export interface LegSpec {
  server: string;
  upstream: Upstream;
  grants: GrantSet;
  /** Methods outside MCP's own the operator lets grants on this server use. */
  allowMethods?: readonly string[];
  /** Tools the operator vouches are read-only whatever their annotations say (servers[].readOnlyTools). */
  readOnlyTools?: readonly string[];
}

/** A server's request of the client while it holds a place: the id the client knows it by once relayed. */
export interface RequestOfClient {
  clientId: number | null;
}

/** What an upstream's initialize answered: its capabilities, as far as the session needs them. */
export interface LegInit {
  result: Record<string, unknown>;
  capabilities: Record<string, unknown>;
}

/**
 * How long a request its client cancelled still counts as running on its server when the
 * server does not answer it. MCP (2025-11-25, cancellation) asks a server to stop and not to
 * answer, and the MCP SDK never answers, so most cancelled requests end by this. Until then
 * its call counts toward the session's `broker.maxInFlightPerSession` (SessionCore.cancelParts): calling and
 * cancelling over and over would otherwise leave any number of calls running upstream.
 * Its place under `rateLimits.concurrent` is given back at the cancellation, as documented:
 * a person who pressed stop can go on at once.
 */
export const CANCELLED_HOLD_MS = 30_000;

const CANCELLED: LegAnswer = { kind: 'cancelled' };
/** Tool names a leg notes as read-only or not (Leg.noteShown): far more than any server lists. */
const MAX_NOTED_TOOLS = 10_000;
/** Requests one server may have waiting on the client at once. */
export const MAX_REQUESTS_OF_CLIENT = 64;

/**
 * One upstream server in a session (a single-server session has one): its connection, the
 * grants it rides on, and the requests the session has sent it. The session gives every
 * request an id of its own, so ids never collide across servers and an answer is matched
 * only to a request this leg was sent.
 */
export class Leg {
  private nextId = 1;
  private readonly pending = new Map<number, (answer: LegAnswer) => void>();
  /** Requests their client cancelled that the server may still be running: the timer that lets each go, and whom to tell (cancel()). */
  private readonly held = new Map<number, { timer: NodeJS.Timeout; released: () => void }>();
  /** Its answer to initialize (null when it failed); absent until the client initializes. */
  init: Promise<LegInit | null> | undefined;
  /** Settles once the client's `notifications/initialized` was relayed to the server (servers may add tools then). */
  readonly initialized: Promise<void>;
  private markInitialized!: () => void;
  /** The hash of each tool's definition as this session's client was last shown it (tool-pins.ts). */
  readonly toolHashes = new Map<string, string>();
  /**
   * Whether each tool is not read-only (no `readOnlyHint: true`, not vouched for by the
   * operator) as far as this session knows (noteShown, noteListing); created at the first.
   */
  private writableTools: Map<string, boolean> | undefined;
  /** Tools a call named that the server's whole listing did not give: not read-only until a listing gives them (toolsAdded). */
  private absent: Set<string> | undefined;
  /** Why it left the session, once it has: nothing is sent to it any more. */
  private left: { code: number; reason: string; detail: string } | undefined;
  /**
   * Requests this server made of the client that are not over, by the server's id (the
   * place each holds: an id reused after a cancellation is a new place).
   */
  private readonly askedOfClient = new Map<JsonRpcId, RequestOfClient>();

  readonly server: string;
  readonly upstream: Upstream;
  readonly grants: GrantSet;
  /** Methods outside MCP's own the operator allows on this server (anything else unknown is refused). */
  readonly allowMethods: ReadonlySet<string>;
  private readonly vouchedReadOnly: ReadonlySet<string>;

  constructor(spec: LegSpec) {
    this.server = spec.server;
    this.upstream = spec.upstream;
    this.grants = spec.grants;
    this.allowMethods = new Set(spec.allowMethods);
    this.vouchedReadOnly = new Set(spec.readOnlyTools);
    this.initialized = new Promise((resolve) => (this.markInitialized = resolve));
  }

  /**
   * Notes a page of tools the client is shown. A read-only grant covers a tool only while
   * the definitions its session was shown say read-only, whatever they said when the grant
   * was issued (a server may change one, and a reviewer may accept the change). A client's
   * pages may be partial or out of order, so one can only say that a tool is not read-only
   * (for the rest of the session); that a tool is read-only, only the whole listing the
   * broker reads before a call to a tool not known yet can say (noteListing).
   */
  noteShown(tools: unknown): void {
    for (const [name, writable] of writableByName(tools, this.vouchedReadOnly)) {
      if (!writable) continue;
      this.note(name, true);
      this.absent?.delete(name);
    }
  }

  /**
   * Notes a whole listing the broker read itself (every page: `complete`), merged by
   * writableByName: a name is read-only when every definition it gave said so, and one it
   * did not give (`unlisted`, the tool a call names) is not read-only. A listing cut short
   * (an error, the page bound) says only which tools are not read-only.
   */
  noteListing(listing: ReadonlyMap<string, boolean>, complete: boolean, unlisted?: string): void {
    for (const [name, writable] of listing) {
      // What the session was shown not read-only stays so; a tool the server only added since it was called may be.
      if (writable || (complete && (this.writableTools?.get(name) !== true || this.absent?.has(name) === true))) this.note(name, writable);
      this.absent?.delete(name);
    }
    if (!complete || unlisted === undefined || listing.has(unlisted) || this.writableTools?.has(unlisted)) return;
    this.note(unlisted, true);
    if (this.writableTools?.has(unlisted)) (this.absent ??= new Set()).add(unlisted);
  }

  /** The server says its tools changed: the ones a call named that its listing did not give are not known any more. */
  toolsAdded(): void {
    for (const name of this.absent ?? []) this.writableTools?.delete(name);
    this.absent = undefined;
  }

  /** Merges a page into a listing being read (noteListing). */
  mergePage(listing: Map<string, boolean>, tools: unknown): void {
    for (const [name, writable] of writableByName(tools, this.vouchedReadOnly)) {
      if (listing.has(name) || listing.size < MAX_NOTED_TOOLS) listing.set(name, writable || listing.get(name) === true);
    }
  }

  private note(name: string, writable: boolean): void {
    const noted = (this.writableTools ??= new Map());
    if (noted.has(name) || noted.size < MAX_NOTED_TOOLS) noted.set(name, writable);
  }

  /** Whether the tool is not read-only as far as this session knows; undefined when it does not know. */
  shownWritable(name: string): boolean | undefined {
    return this.writableTools?.get(name);
  }

  /**
   * Takes a place for a request the server makes of the client, before it is audited; why
   * not when it may not have one: the client answers such requests when a person does
   * (sampling, elicitation), so a server that asks without end would be kept without end.
   */
  holdRequestOfClient(upstreamId: JsonRpcId): RequestOfClient | 'duplicate_request_id' | 'too_many_requests' {
    if (this.askedOfClient.has(upstreamId)) return 'duplicate_request_id';
    if (this.askedOfClient.size >= MAX_REQUESTS_OF_CLIENT) return 'too_many_requests';
    const held = { clientId: null };
    this.askedOfClient.set(upstreamId, held);
    return held;
  }

  /**
   * The held request is relayed to the client under `clientId`; false when it no longer
   * holds its place: cancelled meanwhile, its id perhaps taken by a newer request (which
   * MCP forbids, and which must not be answered as the cancelled one).
   */
  relayedToClient(upstreamId: JsonRpcId, held: RequestOfClient, clientId: number): boolean {
    if (this.askedOfClient.get(upstreamId) !== held || held.clientId !== null) return false;
    held.clientId = clientId;
    return true;
  }

  /**
   * The request is over (answered, cancelled by the server, not relayed): its place goes;
   * the id the client knew it by, if it was relayed. With `held`, only if the place under
   * that id is still that request's.
   */
  requestOfClientOver(upstreamId: JsonRpcId, held?: RequestOfClient): number | undefined {
    const present = this.askedOfClient.get(upstreamId);
    if (!present || (held && present !== held)) return undefined;
    this.askedOfClient.delete(upstreamId);
    return present.clientId ?? undefined;
  }

  /** Sends a request; the promise settles with the answer, or when the leg or call goes. */
  request(method: string, params: unknown): { id: number; answer: Promise<LegAnswer> } {
    const id = this.nextId++;
    if (this.left) return { id, answer: Promise.resolve({ kind: 'gone', ...this.left }) };
    const answer = new Promise<LegAnswer>((resolve) => this.pending.set(id, resolve));
    this.upstream.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }).catch((error: unknown) => {
      this.settle(id, { kind: 'gone', code: -32603, reason: 'upstream_failed', detail: `upstream send failed: ${(error as Error).message}` });
    });
    return { id, answer };
  }

  /**
   * An answer from the upstream; false when it is to be dropped: it answers nothing this leg
   * is waiting for, or a request that was cancelled (by its client, or cut off as its grant
   * ended). Such a request was decided then, so its late answer only frees its place:
   * taken further, a task or URL elicitation it names would become the session's with no
   * grant behind it (relay.ts), and its client was told it will have no answer.
   */
  answered(id: JsonRpcId | null, answer: LegAnswer): boolean {
    if (typeof id !== 'number') return false;
    if (this.held.size !== 0 && this.release(id)) return false;
    return this.settle(id, answer);
  }

  /**
   * The client gave up on a request: it ends now, as cancelled, and the upstream is told
   * (MCP cancellation). The upstream may still be at it, so it counts as running there until
   * the upstream answers it all the same (an answer dropped), the leg goes, or
   * CANCELLED_HOLD_MS pass; then `released` is called. False (and no call) if the request
   * was not waiting.
   */
  cancel(id: number, reason: unknown, released: () => void): boolean {
    if (!this.settle(id, CANCELLED)) return false;
    const timer = setTimeout(() => this.release(id), CANCELLED_HOLD_MS);
    timer.unref();
    this.held.set(id, { timer, released });
    void this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, ...(typeof reason === 'string' ? { reason } : {}) } }).catch(() => {});
    return true;
  }

  /** The leg leaves the session: every request waiting on it is answered with why, and none runs there for the session any more. */
  drop(why: { code: number; reason: string; detail: string }): void {
    this.left ??= why;
    for (const id of [...this.pending.keys()]) this.settle(id, { kind: 'gone', ...why });
    for (const id of [...this.held.keys()]) this.release(id);
  }

  notify(method: string, params?: unknown): void {
    const sent = this.upstream.send({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) }).catch(() => {});
    if (method === 'notifications/initialized') void sent.then(this.markInitialized);
  }

  send(message: Record<string, unknown>): void {
    void this.upstream.send(message).catch(() => {});
  }

  private settle(id: number, answer: LegAnswer): boolean {
    const resolve = this.pending.get(id);
    if (!resolve) return false;
    this.pending.delete(id);
    resolve(answer);
    return true;
  }

  /** A cancelled request stops counting as running; false if it was not one. */
  private release(id: number): boolean {
    const hold = this.held.get(id);
    if (hold === undefined) return false;
    clearTimeout(hold.timer);
    this.held.delete(id);
    hold.released();
    return true;
  }
}
