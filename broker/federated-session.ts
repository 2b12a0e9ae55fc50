import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { GrantRecord } from '../server/access/types.js';
import type { Principal } from '../server/identity/principal.js';
import { ClientLink, CLOSE } from './client-link.js';
import type { GrantEnd, GrantSet } from './grant-set.js';
import { ACCESS_DENIED, classify, denial, errorReply, INTERNAL_ERROR, INVALID_REQUEST, parseFrame } from './jsonrpc.js';
import type { DenialReason, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from './jsonrpc.js';
import { refusedFrameEvent, requestEvent, serverRequestEvent, toolOf } from './request-audit.js';
import type { SessionAuditEvent } from './request-audit.js';
import type { SessionDeps } from './session.js';
import type { Upstream } from './upstreams/upstream.js';

/** Federated tool names are `<server>__<tool>`; they are resolved through the registry, never split. */
export const NAMESPACE_SEPARATOR = '__';
const METHOD_NOT_FOUND = -32601;
const SUPPORTED_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

interface Leg {
  server: string;
  upstream: Upstream;
  grants: GrantSet;
}

type Pending =
  | { kind: 'call'; clientId: JsonRpcId; server: string }
  | { kind: 'list'; clientId: JsonRpcId; server: string }
  | { kind: 'internal'; server: string };

interface ListInProgress {
  waiting: Set<string>;
  tools: Record<string, unknown>[];
}

export interface FederatedSessionDeps extends SessionDeps {
  version: string;
}

/**
 * `GET /mcp/ws`: one MCP session to the client over every server the caller holds an
 * active grant for. The broker answers initialize itself, lists the granted tools of all
 * servers as `<server>__<tool>` (a registry maps each name back to its server and tool),
 * and routes calls by lookup. Each server's grants are enforced as on the single-server
 * endpoint; a server whose grants end leaves the session (its tools disappear and
 * `tools/list_changed` is sent), and the session closes with 4403 when none is left.
 */
export class FederatedSession {
  readonly id = randomUUID();
  private readonly legs = new Map<string, Leg>();
  private readonly registry = new Map<string, { server: string; tool: string }>();
  private readonly pending = new Map<number, Pending>();
  private readonly lists = new Map<JsonRpcId, ListInProgress>();
  private readonly clientInFlight = new Set<JsonRpcId>();
  private readonly client: ClientLink;
  private ready: Promise<void> = Promise.resolve();
  private nextId = 1;
  private ended = false;
  private unverified = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  onended?: () => void;

  constructor(
    ws: WebSocket,
    legs: readonly Leg[],
    readonly principal: Principal,
    private readonly deps: FederatedSessionDeps,
  ) {
    for (const leg of legs) this.legs.set(leg.server, leg);
    this.client = new ClientLink(ws, {
      frame: (text) => void this.ready.then(() => this.fromClient(text), () => {}),
      gone: (code, reason) => void this.end(code, reason, null),
    }, deps.idleTimeoutMs);
  }

  async start(clientAddress: string | undefined): Promise<void> {
    for (const leg of this.legs.values()) {
      leg.upstream.onmessage = (message) => this.fromUpstream(leg, message);
      leg.upstream.onclose = (reason) => this.dropLeg(leg.server, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: reason });
    }
    this.ready = (async () => {
      await this.audit(null, { type: 'mcp.session.start', outcome: 'SUCCESS', data: { federated: true, servers: [...this.legs.keys()], grants: this.grantIds(), clientAddress: clientAddress ?? null } });
      await Promise.all([...this.legs.values()].map((leg) => leg.upstream.start()));
    })();
    await this.ready;
    this.armExpiryTimer();
  }

  grantIds(): string[] {
    return [...this.legs.values()].flatMap((leg) => leg.grants.ids());
  }

  hasGrant(grantId: string): boolean {
    return [...this.legs.values()].some((leg) => leg.grants.has(grantId));
  }

  grantEnded(grantId: string, why: GrantEnd): void {
    for (const leg of this.legs.values()) leg.grants.end(grantId, why);
    this.enforceGrants();
  }

  async revalidate(fetch: (grantId: string) => Promise<GrantRecord | null>): Promise<void> {
    try {
      for (const leg of this.legs.values()) for (const id of leg.grants.ids()) leg.grants.refresh(await fetch(id), id, this.deps.clock.now());
      this.unverified = false;
      this.enforceGrants();
    } catch {
      this.unverified = true;
    }
  }

  /** Drops servers whose grants are gone; ends the session when none is left. */
  enforceGrants(): void {
    const now = this.deps.clock.now();
    for (const leg of [...this.legs.values()]) {
      const gone = leg.grants.check(now);
      if (gone) {
        this.dropLeg(leg.server, { code: ACCESS_DENIED, reason: gone, detail: gone === 'grant_revoked' ? 'grant revoked' : 'grant expired' });
      }
    }
    this.armExpiryTimer();
  }

  async end(code: number, reason: string, pending: { code: number; reason: string } | null): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.expiryTimer);
    const answer = pending ?? { code: INTERNAL_ERROR, reason: 'upstream_failed' };
    for (const id of this.clientInFlight) this.client.send(errorReply(id, answer.code, `Request not completed: ${reason}`, { reason: answer.reason }));
    this.clientInFlight.clear();
    this.client.close(code, reason);
    await Promise.all([...this.legs.values()].map((leg) => leg.upstream.close().catch(() => {})));
    this.legs.clear();
    await this.audit(null, { type: 'mcp.session.end', outcome: 'SUCCESS', data: { code, reason } }).catch(() => {});
    this.onended?.();
  }

  private dropLeg(server: string, why: { code: number; reason: string; detail: string }): void {
    const leg = this.legs.get(server);
    if (!leg || this.ended) return;
    this.legs.delete(server);
    for (const [brokerId, p] of this.pending) {
      if (p.server !== server) continue;
      this.pending.delete(brokerId);
      if (p.kind === 'call') this.answer(p.clientId, errorReply(p.clientId, why.code, `Request not completed: ${why.detail}`, { reason: why.reason }));
      if (p.kind === 'list') this.listAnswered(p.clientId, server, []);
    }
    for (const [name, entry] of this.registry) if (entry.server === server) this.registry.delete(name);
    void leg.upstream.close().catch(() => {});
    if (this.legs.size === 0) {
      const grantEnded = why.code === ACCESS_DENIED;
      void this.end(grantEnded ? CLOSE.grantEnded : CLOSE.upstreamFailed, grantEnded ? why.detail : `upstream failed: ${why.detail}`, { code: why.code, reason: why.reason });
      return;
    }
    this.client.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
  }

  private async fromClient(text: string): Promise<void> {
    if (this.ended) return;
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      const refused = parsed.illFormed;
      // No answer of the client's is awaited here (server requests are not relayed): only requests and notifications are audited.
      if (refused?.message.kind === 'request' || refused?.message.kind === 'notification') await this.refusedFrame(refused.message, { reason: 'ill_formed_text', illFormedText: true, at: refused.at });
      return this.client.send(parsed.reply);
    }
    const message = parsed.message;
    if (message.kind === 'notification') return this.clientNotification(message);
    if (message.kind !== 'request') return; // we never ask the client anything
    if (this.clientInFlight.has(message.id)) {
      await this.audit(null, requestEvent(message, toolOf(message), 'DENIED', { reason: 'duplicate_request_id' })).catch(() => {});
      return this.client.send(errorReply(message.id, INVALID_REQUEST, 'Invalid Request: a request with this id is already in flight', { reason: 'duplicate_request_id' }));
    }
    // Taken before any await: a second request with this id, arriving meanwhile, is refused above.
    this.clientInFlight.add(message.id);
    this.enforceGrants();
    if (this.ended) return;
    if (this.unverified) return this.refuse(message, null, 'broker_unavailable', 'the broker cannot confirm your grants right now');
    switch (message.method) {
      case 'initialize':
        return this.initialize(message);
      case 'ping':
        return this.answer(message.id, { jsonrpc: '2.0', id: message.id, result: {} });
      case 'tools/list':
        return this.listTools(message);
      case 'tools/call':
        return this.callTool(message);
      default:
        await this.audit(null, requestEvent(message, null, 'DENIED', { reason: 'method_not_federated' })).catch(() => {});
        return this.answer(message.id, errorReply(message.id, METHOD_NOT_FOUND, `Method not found: the federated endpoint serves tools only (${message.method})`));
    }
  }

  /** Audits a client frame refused without a reply of its own (best effort: refusing needs no audit log). */
  private async refusedFrame(message: JsonRpcMessage & { kind: 'request' | 'notification' }, data: Record<string, unknown>): Promise<void> {
    await this.audit(null, refusedFrameEvent(message, data)).catch(() => {});
  }

  private async initialize(request: JsonRpcRequest): Promise<void> {
    if (!(await this.audited(null, requestEvent(request, null, 'SUCCESS', {})))) return this.unavailable(request.id);
    for (const leg of this.legs.values()) this.toLeg(leg, { kind: 'internal', server: leg.server }, request.method, request.params);
    const params = request.params && !Array.isArray(request.params) ? request.params : {};
    const asked = typeof params.protocolVersion === 'string' ? params.protocolVersion : SUPPORTED_VERSIONS[0]!;
    this.answer(request.id, {
      jsonrpc: '2.0',
      id: request.id,
      result: {
        protocolVersion: SUPPORTED_VERSIONS.includes(asked) ? asked : SUPPORTED_VERSIONS[0],
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: 'portcullis-federation', version: this.deps.version },
        instructions: `Tools of ${[...this.legs.keys()].join(', ')}, named <server>${NAMESPACE_SEPARATOR}<tool>.`,
      },
    });
  }

  private async listTools(request: JsonRpcRequest): Promise<void> {
    if (!(await this.audited(null, requestEvent(request, null, 'SUCCESS', {})))) return this.unavailable(request.id);
    if (this.ended) return;
    this.lists.set(request.id, { waiting: new Set(this.legs.keys()), tools: [] });
    for (const leg of this.legs.values()) this.toLeg(leg, { kind: 'list', clientId: request.id, server: leg.server }, 'tools/list', {});
  }

  private listAnswered(clientId: JsonRpcId, server: string, tools: unknown[]): void {
    const list = this.lists.get(clientId);
    const leg = this.legs.get(server);
    if (!list) return;
    list.waiting.delete(server);
    for (const tool of tools) {
      if (!leg || typeof tool !== 'object' || tool === null || typeof (tool as { name?: unknown }).name !== 'string') continue;
      const original = (tool as { name: string }).name;
      if (!leg.grants.allowsTool(original)) continue;
      const name = `${server}${NAMESPACE_SEPARATOR}${original}`;
      this.registry.set(name, { server, tool: original });
      list.tools.push({ ...(tool as Record<string, unknown>), name });
    }
    if (list.waiting.size > 0) return;
    this.lists.delete(clientId);
    this.answer(clientId, { jsonrpc: '2.0', id: clientId, result: { tools: list.tools } });
  }

  private async callTool(request: JsonRpcRequest): Promise<void> {
    const name = toolOf(request);
    const entry = name === null ? undefined : this.registry.get(name);
    const leg = entry && this.legs.get(entry.server);
    if (!entry || !leg || !leg.grants.allowsTool(entry.tool)) return this.refuse(request, entry?.server ?? null, 'tool_not_granted', `tool ${JSON.stringify(name ?? '')} is not covered by your grants (list tools first)`);
    const event = { ...requestEvent(request, entry.tool, 'SUCCESS', { federatedName: name }), server: entry.server };
    if (!(await this.audited(entry.server, event))) return this.unavailable(request.id);
    // The server may have left while the event was written (its grant ended, its upstream failed).
    if (!this.legs.has(entry.server)) return this.answer(request.id, errorReply(request.id, INTERNAL_ERROR, `Request not completed: ${entry.server} left this session`, { reason: 'server_left' }));
    const params = { ...(request.params as Record<string, unknown>), name: entry.tool };
    this.toLeg(leg, { kind: 'call', clientId: request.id, server: entry.server }, 'tools/call', params);
  }

  private clientNotification(message: JsonRpcMessage & { kind: 'notification' }): Promise<void> | void {
    // A "notification" named like a request would reach an upstream as a call nobody checked.
    if (!message.method.startsWith('notifications/')) return this.refusedFrame(message, { reason: 'not_a_notification' });
    if (message.method === 'notifications/initialized') {
      for (const leg of this.legs.values()) void leg.upstream.send({ jsonrpc: '2.0', method: message.method }).catch(() => {});
    } else if (message.method === 'notifications/cancelled') {
      const params = message.params && !Array.isArray(message.params) ? message.params : {};
      for (const [brokerId, p] of this.pending) {
        if (p.kind !== 'internal' && p.clientId === params.requestId) {
          const leg = this.legs.get(p.server);
          void leg?.upstream.send({ jsonrpc: '2.0', method: message.method, params: { ...params, requestId: brokerId } }).catch(() => {});
        }
      }
    }
  }

  private fromUpstream(leg: Leg, value: unknown): void {
    if (this.ended) return;
    const message = classify(value);
    if (!message) return;
    if (message.kind === 'request') {
      void this.audit(leg.server, serverRequestEvent(message, 'DENIED', { reason: 'not_relayed_by_federation' })).catch(() => {});
      return void leg.upstream.send(errorReply(message.id, METHOD_NOT_FOUND, 'Method not found: not relayed by the federated endpoint')).catch(() => {});
    }
    if (message.kind === 'notification') {
      if (message.method === 'notifications/tools/list_changed') this.client.send({ jsonrpc: '2.0', method: message.method });
      return;
    }
    const brokerId = typeof message.id === 'number' ? message.id : undefined;
    const p = brokerId === undefined ? undefined : this.pending.get(brokerId);
    if (!p || p.server !== leg.server) return;
    this.pending.delete(brokerId!);
    if (p.kind === 'list') return this.listAnswered(p.clientId, leg.server, message.kind === 'result' && Array.isArray(message.result.tools) ? message.result.tools : []);
    if (p.kind === 'call') {
      this.answer(p.clientId, message.kind === 'result' ? { jsonrpc: '2.0', id: p.clientId, result: message.result } : { jsonrpc: '2.0', id: p.clientId, error: message.error });
    }
  }

  private toLeg(leg: Leg, pending: Pending, method: string, params: unknown): void {
    const id = this.nextId++;
    this.pending.set(id, pending);
    leg.upstream.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }).catch((error: unknown) => {
      this.dropLeg(leg.server, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: (error as Error).message });
    });
  }

  private answer(clientId: JsonRpcId, message: object): void {
    if (!this.clientInFlight.delete(clientId)) return;
    this.client.send(message);
  }

  private async refuse(request: JsonRpcRequest, server: string | null, reason: DenialReason, detail: string): Promise<void> {
    await this.audit(server, requestEvent(request, toolOf(request), 'DENIED', { reason })).catch(() => {});
    this.answer(request.id, denial(request.id, reason, detail));
  }

  private unavailable(id: JsonRpcId): void {
    this.answer(id, denial(id, 'broker_unavailable', 'the audit log cannot be written, so nothing is forwarded'));
  }

  private async audited(server: string | null, event: SessionAuditEvent): Promise<boolean> {
    try {
      await this.audit(server, event);
      return true;
    } catch (error) {
      this.deps.logger.warn({ err: error, sessionId: this.id }, 'audit append failed: request refused');
      return false;
    }
  }

  private armExpiryTimer(): void {
    clearTimeout(this.expiryTimer);
    if (this.ended) return;
    const expiries = [...this.legs.values()].flatMap((leg) => leg.grants.nextExpiry() ?? []);
    if (expiries.length === 0) return;
    this.expiryTimer = setTimeout(() => this.enforceGrants(), Math.max(0, Math.min(...expiries) - this.deps.clock.now()) + 1);
    this.expiryTimer.unref();
  }

  private audit(server: string | null, event: SessionAuditEvent): Promise<unknown> {
    return this.deps.audit.append({ ...event, server: event.server ?? server, actor: this.principal.user.email, sessionId: this.id });
  }
}
