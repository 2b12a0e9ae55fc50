import { setImmediate } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { GrantRecord } from '../server/access/types.js';
import type { AuditLog } from '../server/audit/types.js';
import type { Clock } from '../server/clock.js';
import type { Principal } from '../server/identity/principal.js';
import type { Logger } from '../server/log.js';
import type { GrantEnd, GrantSet } from './grant-set.js';
import { ClientLink, CLOSE } from './client-link.js';
import { ACCESS_DENIED, classify, denial, errorReply, INTERNAL_ERROR, INVALID_REQUEST, parseFrame, wire } from './jsonrpc.js';
import { clientAnswerEvent, isToolName, refusedFrameEvent, requestEvent, serverRequestEvent, toolOf } from './request-audit.js';
import type { SessionAuditEvent } from './request-audit.js';
import type { DenialReason, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from './jsonrpc.js';
import type { Upstream } from './upstreams/upstream.js';


interface InFlight {
  method: string;
}

export interface SessionDeps {
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  idleTimeoutMs: number;
}

/**
 * One client connection relayed to one upstream. Every client request is checked against
 * the session's grants, audited before it is forwarded (an unwritable audit log refuses
 * it), and forwarded as its validated re-serialisation; tools/list results are filtered
 * to what the grants allow. When the last grant ends the session closes with 4403 and
 * every in-flight request is answered, never left hanging.
 */
export class BrokerSession {
  readonly id = randomUUID();
  private readonly inFlight = new Map<JsonRpcId, InFlight>();
  private readonly upstreamRequests = new Set<JsonRpcId>();
  private ended = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Set while the store cannot confirm the grants; requests are refused meanwhile. */
  private unverified = false;
  private requests = 0;
  /** The client's own name and version, from its initialize request. */
  private clientInfo: unknown = null;
  private ready: Promise<void> = Promise.resolve();
  private readonly client: ClientLink;
  onended?: () => void;

  constructor(
    ws: WebSocket,
    private readonly upstream: Upstream,
    readonly server: string,
    readonly principal: Principal,
    readonly grants: GrantSet,
    private readonly deps: SessionDeps,
  ) {
    this.client = new ClientLink(ws, {
      // Frames that arrive while the upstream starts wait for it, in order.
      frame: (text) => void this.ready.then(() => this.fromClient(text), () => {}),
      gone: (code, reason) => void this.end(code, reason, null),
    }, deps.idleTimeoutMs);
  }

  /** Audits the session start and starts the upstream (client frames wait for it). */
  async start(clientAddress: string | undefined): Promise<void> {
    this.upstream.onmessage = (message) => this.fromUpstream(message);
    this.upstream.onclose = (reason) => void this.end(CLOSE.upstreamFailed, reason, { code: INTERNAL_ERROR, reason: 'upstream_failed' });
    this.ready = (async () => {
      await this.audit({ type: 'mcp.session.start', outcome: 'SUCCESS', data: { grants: this.grants.ids(), clientAddress: clientAddress ?? null } });
      await this.upstream.start();
    })();
    await this.ready;
    this.armExpiryTimer();
  }

  /** A grant of this session ended elsewhere (revocation fan-out or the store said so). */
  grantEnded(grantId: string, why: GrantEnd): void {
    this.grants.end(grantId, why);
    this.enforceGrants();
  }

  hasGrant(grantId: string): boolean {
    return this.grants.has(grantId);
  }

  /** Re-reads the grants from the store (pub/sub can drop messages); refuses requests while it cannot. */
  async revalidate(fetch: (grantId: string) => Promise<GrantRecord | null>): Promise<void> {
    try {
      for (const id of this.grants.ids()) this.grants.refresh(await fetch(id), id, this.deps.clock.now());
      this.unverified = false;
      this.enforceGrants();
    } catch {
      this.unverified = true;
    }
  }

  /** Re-checks the grants against the clock; closes the session when none is left. */
  enforceGrants(): void {
    const gone = this.grants.check(this.deps.clock.now());
    if (gone) void this.end(CLOSE.grantEnded, gone === 'grant_revoked' ? 'grant revoked' : 'grant expired', { code: ACCESS_DENIED, reason: gone });
    else this.armExpiryTimer();
  }

  /** Ends the session: answers in-flight requests, closes both sides, audits. Idempotent. */
  async end(code: number, reason: string, pending: { code: number; reason: DenialReason | 'upstream_failed' | 'broker_shutting_down' } | null): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.expiryTimer);
    for (const id of this.inFlight.keys()) {
      const answer = pending ?? { code: INTERNAL_ERROR, reason: 'upstream_failed' as const };
      this.send(errorReply(id, answer.code, answer.code === ACCESS_DENIED ? `Access denied: ${reason}` : `Request not completed: ${reason}`, { reason: answer.reason }));
    }
    this.inFlight.clear();
    this.client.close(code, reason);
    // Upstream clean-up (aborts, DELETE) waits a turn: when a revocation ends many sessions
    // at once, every client hears its close before any upstream work delays the next one.
    await setImmediate();
    await this.upstream.close().catch((error: unknown) => this.deps.logger.warn({ err: error, sessionId: this.id }, 'upstream close failed'));
    await this.audit({ type: 'mcp.session.end', outcome: 'SUCCESS', data: { code, reason, requests: this.requests, clientInfo: this.clientInfo, grants: this.grants.ids() }, bounded: ['clientInfo'] }).catch(() => {});
    this.onended?.();
  }

  private async fromClient(text: string): Promise<void> {
    if (this.ended) return;
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      const refused = parsed.illFormed;
      const why = refused && { reason: 'ill_formed_text', illFormedText: true, at: refused.at };
      if (refused?.message.kind === 'result' || refused?.message.kind === 'error') return this.refusedAnswer(refused.message.id, why!);
      if (refused?.message.kind === 'request' || refused?.message.kind === 'notification') await this.refusedFrame(refused.message, why!);
      return void this.send(parsed.reply);
    }
    const message = parsed.message;
    switch (message.kind) {
      case 'request':
        return this.clientRequest(message);
      case 'notification':
        // A "notification" named like a request would reach the upstream as a call nobody checked.
        if (!message.method.startsWith('notifications/')) return this.refusedFrame(message, { reason: 'not_a_notification' });
        if (this.grants.check(this.deps.clock.now()) !== null) return this.enforceGrants();
        await this.forwardAudited(message, { type: 'mcp.notification', outcome: 'SUCCESS', data: { method: message.method } });
        return;
      case 'result':
      case 'error':
        return this.clientAnswer(message);
    }
  }

  /** Audits a client frame that is refused without a reply of its own (best effort: refusing needs no audit log). */
  private async refusedFrame(message: JsonRpcMessage & { kind: 'request' | 'notification' }, data: Record<string, unknown>): Promise<void> {
    await this.audit(refusedFrameEvent(message, data)).catch(() => {});
  }

  /**
   * The client's answer to a request the upstream made (sampling, elicitation, roots):
   * only answers to requests actually made pass, audited before they are forwarded.
   */
  private async clientAnswer(message: JsonRpcMessage & { kind: 'result' | 'error' }): Promise<void> {
    if (message.id === null || !this.upstreamRequests.delete(message.id)) return;
    const event = message.kind === 'result' ? clientAnswerEvent(message.id, 'SUCCESS') : clientAnswerEvent(message.id, 'ERROR', { error: { code: message.error.code } });
    try {
      await this.audit(event);
    } catch {
      return void this.upstream.send(errorReply(message.id, INTERNAL_ERROR, 'the broker could not audit the answer, so it was not relayed')).catch(() => {});
    }
    await this.upstream.send(wire(message)).catch(() => {});
  }

  /** An answer the client sent that cannot be relayed (ill-formed text): refused, audited, and the upstream told, so it does not wait for ever. */
  private async refusedAnswer(id: JsonRpcId | null, data: Record<string, unknown>): Promise<void> {
    if (id === null || !this.upstreamRequests.delete(id)) return;
    await this.audit(clientAnswerEvent(id, 'DENIED', data)).catch(() => {});
    await this.upstream.send(errorReply(id, INTERNAL_ERROR, 'the client answered with ill-formed text, so the answer was not relayed')).catch(() => {});
  }

  private async clientRequest(request: JsonRpcRequest & { kind: 'request' }): Promise<void> {
    this.requests++;
    if (request.method === 'initialize' && request.params && !Array.isArray(request.params)) this.clientInfo = request.params.clientInfo ?? null;
    const tool = toolOf(request);
    if (this.inFlight.has(request.id)) return this.refuse(request, tool, 'duplicate_request_id', 'a request with this id is already in flight', INVALID_REQUEST);
    const gone = this.grants.check(this.deps.clock.now());
    if (gone) {
      await this.refuse(request, tool, gone, gone === 'grant_revoked' ? 'the grant was revoked' : 'the grant has expired');
      return this.enforceGrants();
    }
    if (this.unverified) return this.refuse(request, tool, 'broker_unavailable', 'the broker cannot confirm your grant right now');
    if (request.method === 'tools/call' && (tool === null || !isToolName(tool) || !this.grants.allowsTool(tool))) {
      return this.refuse(request, tool, 'tool_not_granted', `tool ${JSON.stringify(tool ?? '')} is not covered by your grant`);
    }
    this.inFlight.set(request.id, { method: request.method });
    const forwarded = await this.forwardAudited(request, requestEvent(request, tool, 'SUCCESS'));
    if (!forwarded) {
      this.inFlight.delete(request.id);
      this.send(denial(request.id, 'broker_unavailable', 'the audit log cannot be written, so nothing is forwarded'));
    }
  }

  /** Audits a refused request (best effort: refusing needs no audit log) and answers it. */
  private async refuse(request: JsonRpcRequest, tool: string | null, reason: DenialReason, detail: string, code = ACCESS_DENIED): Promise<void> {
    await this.audit(requestEvent(request, tool, 'DENIED', { reason })).catch(() => {});
    this.send(code === ACCESS_DENIED ? denial(request.id, reason, detail) : errorReply(request.id, code, `Invalid Request: ${detail}`, { reason }));
  }

  /** Audit first; forward only once the event is durable. False when the audit failed. */
  private async forwardAudited(message: JsonRpcMessage, event: SessionAuditEvent): Promise<boolean> {
    try {
      await this.audit(event);
    } catch (error) {
      this.deps.logger.warn({ err: error, sessionId: this.id }, 'audit append failed: request refused');
      return false;
    }
    if (this.ended) return true;
    await this.upstream.send(wire(message)).catch((error: unknown) => void this.end(CLOSE.upstreamFailed, `upstream send failed: ${(error as Error).message}`, null));
    return true;
  }

  private fromUpstream(value: unknown): void {
    if (this.ended) return;
    const message = classify(value);
    if (!message) return void this.deps.logger.warn({ sessionId: this.id, server: this.server }, 'upstream sent an invalid JSON-RPC message; dropped');
    switch (message.kind) {
      case 'result':
      case 'error': {
        const request = message.id === null ? undefined : this.inFlight.get(message.id);
        if (!request || message.id === null) return;
        this.inFlight.delete(message.id);
        if (message.kind === 'result' && request.method === 'tools/list') return this.send(wire(this.filterToolList(message)));
        return this.send(wire(message));
      }
      case 'request':
        return void this.serverRequest(message);
      case 'notification':
        return this.send(wire(message));
    }
  }

  /** A request the upstream makes of the client (sampling, elicitation, roots): audited before it is relayed. */
  private async serverRequest(message: JsonRpcMessage & { kind: 'request' }): Promise<void> {
    try {
      await this.audit(serverRequestEvent(message, 'SUCCESS'));
    } catch {
      return void this.upstream.send(errorReply(message.id, INTERNAL_ERROR, 'the broker could not audit this request, so it was not relayed')).catch(() => {});
    }
    if (this.ended) return;
    this.upstreamRequests.add(message.id);
    this.send(wire(message));
  }

  private filterToolList(message: JsonRpcMessage & { kind: 'result' }): JsonRpcMessage {
    const tools = message.result.tools;
    if (!Array.isArray(tools)) return message;
    const allowed = tools.filter((t) => isRecord(t) && typeof t.name === 'string' && this.grants.allowsTool(t.name));
    return { ...message, result: { ...message.result, tools: allowed } };
  }

  private send(message: object): void {
    this.client.send(message);
  }

  private armExpiryTimer(): void {
    clearTimeout(this.expiryTimer);
    const next = this.grants.nextExpiry();
    if (next === null) return;
    this.expiryTimer = setTimeout(() => this.enforceGrants(), Math.max(0, next - this.deps.clock.now()) + 1);
    this.expiryTimer.unref();
  }

  private audit(event: Omit<SessionAuditEvent, 'server'>): Promise<unknown> {
    return this.deps.audit.append({ ...event, actor: this.principal.user.email, server: this.server, sessionId: this.id });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
