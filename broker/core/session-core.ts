import { randomUUID } from 'node:crypto';
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { setImmediate } from 'node:timers/promises';
import { clientAddressData } from '../../server/audit/client-address.js';
import type { Subject } from '../../server/access/grant-decision.js';
import type { GrantRecord } from '../../server/access/types.js';
import type { AuditLog } from '../../server/audit/types.js';
import type { Clock } from '../../server/clock.js';
import type { Principal } from '../../server/identity/principal.js';
import type { Logger } from '../../server/log.js';
import { timerAt } from '../../server/timer-at.js';
import { CONCURRENCY_RETRY_MS } from '../../server/limits/call-limits.js';
import { inSpan } from '../../server/tracing/spans.js';
import { CLOSE } from '../client-link.js';
import type { GrantEnd } from '../grant-set.js';
import { ACCESS_DENIED, classifyUpstream, denial, errorReply, INTERNAL_ERROR, INVALID_REQUEST, parseFrame } from '../jsonrpc.js';
import type { DenialReason, JsonRpcError, JsonRpcId, JsonRpcMessage, JsonRpcRequest, Parsed } from '../jsonrpc.js';
import { auditedId, refusedFrameEvent, requestEvent, responseEvent, serverRequestEvent, toolOf } from '../request-audit.js';
import type { SessionAuditEvent } from '../request-audit.js';
import type { ToolPinning } from '../tool-pinning.js';
import { isRecord } from './json.js';
import type { CallLimits } from './call-limits.js';
import type { RequestAccess } from './request-access-tool.js';
import type { ClientChannel } from './channel.js';
import { handleClientRequest } from './client-requests.js';
import { handleClientNotification, handleClientAnswer, handleUpstreamMessage } from './relay.js';
import { Leg } from './leg.js';
import type { LegAnswer, LegSpec, RequestOfClient } from './leg.js';
import { FederatedCursors } from './federated-cursor.js';
import { relatedTaskOf } from './federation-map.js';
import { ServerTasks } from './server-tasks.js';
import { federatedNaming, singleNaming } from './naming.js';
import type { Naming } from './naming.js';

/** Client-side tasks, and URL-mode elicitations, a session remembers the owner of. */
const MAX_OWNED = 1000;

interface CoreDeps {
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  /** serverInfo.version a federated session reports. */
  version: string;
  /** Rate limits on tool calls (none when absent). */
  limits?: CallLimits;
  /** Requests of the client in flight at once (`broker.maxInFlightPerSession`). */
  maxInFlight: number;
  /** How long a server's request waits for the client's answer (`broker.clientAnswerTimeoutSeconds`; a person may be answering it). */
  clientAnswerTimeoutMs: number;
  /** Files access requests for the broker tool; a session offers the tool only when given this (federated only). */
  requestAccess?: RequestAccess;
  /** Tool pinning (none when absent: tools are shown and called as listed). */
  pinning?: ToolPinning;
  /** Tool results this big or bigger are recorded (`mcp.response`, for the outlier detector); none when absent. */
  resultFloorBytes?: number;
  /** Spans each client request, its upstream legs and (through the audit log) its records; absent or null when tracing is off. */
  tracer?: Tracer | null;
}

/** The client's end of a session: the transport it came over (its address travels with the principal). */
export interface ClientEdge {
  transport: 'websocket' | 'streamable-http';
}

/** Where a refusal happened and why, for its audit record and its reply. */
export interface Refusal {
  server?: string | null;
  tool?: string | null;
  code?: number;
  why?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

/** What a revalidation asks the store: each grant, and whether the session's credential still works. */
export interface SessionConfirmation {
  grant(grantId: string): Promise<GrantRecord | null>;
  credential(): Promise<boolean>;
}

/** Why in-flight requests are answered as they are when the session ends. */
interface PendingAnswer {
  code: number;
  reason: DenialReason | 'upstream_failed' | 'broker_shutting_down' | 'session_ended';
}

/** A client request in flight: the upstream requests it became, and the progress token it was given. */
export interface Call {
  /** The client's id for it (free again once the call is answered or cancelled). */
  id: JsonRpcId;
  method: string;
  parts: { leg: Leg; id: number }[];
  progressToken?: string;
  /** The request's span (tracing on): the handler adds what it learns (tool, server). */
  span?: Span;
  /** What a grant allowed it to ask of which server, checked again as it is sent (ask). */
  allowedBy?: AllowedBy;
}

/** A mark no grant set ever has: what was decided under it is decided again. */
const STALE_MARK = -1;

/** A grant's decision for a call, with the grant set's mark when it was made (GrantSet.allowingGrant); both follow the grant that allows it now (stillAllowed). */
export interface AllowedBy {
  leg: Leg;
  subject: Subject;
  grantId: string;
  mark: number;
  /** Set once the request went to the server: from then on a grant's end cuts it off (enforceGrants). */
  sent?: true;
}

/**
 * One MCP session of a client, over one server or federated over several: the single
 * place where Portcullis decides. Every endpoint drives it through a ClientChannel (a
 * transport is a thin edge); it checks each request against the session's grants, audits
 * it before it is forwarded (an unwritable audit log refuses it), gives every request sent
 * upstream an id of its own (so ids never collide, a late answer to a cancelled request
 * is dropped, and an id is free again once its request is answered or cancelled), relays
 * requests the servers make of the client and routes the answers back to the server that
 * asked, and ends servers (and at last the session) when their grants end, answering
 * every request in flight. A single-server session is a federated one with one server
 * whose names are left as they are.
 */
export class SessionCore {
  readonly id = randomUUID();
  readonly naming: Naming;
  readonly legs = new Map<string, Leg>();
  readonly calls = new Map<JsonRpcId, Call>();
  /** Progress tokens handed to servers for client calls: the client's own token and the servers that may use it. */
  readonly progress = new Map<string, { clientToken: string | number; servers: Set<string> }>();
  /** Requests servers made of the client, by the id the client sees (with the progress token it was given). */
  readonly serverRequests = new Map<number, { leg: Leg; upstreamId: JsonRpcId; held: RequestOfClient; token?: string; timer: NodeJS.Timeout }>();
  /** Progress tokens servers gave the client with their requests, by the token the client sees. */
  readonly serverProgress = new Map<string, { leg: Leg; token: string | number }>();
  /** Tasks the client runs for a server (server-to-client task requests), by task id: only that server may ask after them. */
  readonly clientTasks = new Map<string, Leg>();
  /** URL-mode elicitations by id, with the server that asked (federated only): only that server may say one is complete. */
  readonly elicitations = new Map<string, Leg>();
  /** Tasks servers run for the session: the only ones it may reach, each with the grant decision behind it. */
  readonly serverTasks = new ServerTasks();
  /** Each server's grant-set mark when calls and tasks were last checked against it (enforceGrants). */
  private readonly checkedMarks = new Map<Leg, number>();
  readonly cursors = new FederatedCursors();
  clientInfo: unknown = null;
  /** The client's initialize params, for servers that join the session later (a grant approved meanwhile). */
  initializeParams: unknown = undefined;
  private nextToken = 1;
  private nextServerRequestId = 1;
  private ended = false;
  /**
   * Set while the store cannot confirm the grants (and, coming back, the credential); requests
   * are refused meanwhile. Set at first too: the credential was checked before the session
   * could hear of its end, so start's re-read asks the store about it as well.
   */
  private unverified = true;
  /** The session's re-read of its grants (start's `confirmGrants`), which a request finding them unconfirmed tries first. */
  private confirmGrants: () => Promise<void> = () => Promise.resolve();
  /** That re-read while it runs: requests arriving meanwhile share it. */
  private confirming: Promise<void> | null = null;
  private requests = 0;
  /**
   * Client requests being handled, from their arrival until their handler is done; with the
   * cancelled ones their servers may still run (cancelParts), what
   * broker.maxInFlightPerSession bounds.
   */
  private inFlight = 0;
  private cancelledRunning = 0;
  private expiry: { at: number; cancel(): void } | undefined;
  private ready: Promise<void> = Promise.resolve();
  /** Grants issued during the session, taken one at a time up to their record (grantIssued). */
  private admitting: Promise<unknown> = Promise.resolve();
  /** The server a single-server session's events name (a federated session names each event's own). */
  private readonly home: string | null;
  /** What every event of the session records of its client: the address it connected from and, for OAuth, the client acting for the user. */
  private readonly caller: Record<string, unknown>;
  onended?: () => void;
  /** A server left the live session (its upstream is being closed): the registry gives its place back. */
  onlegdropped?: (server: string) => void;

  constructor(
    private readonly channel: ClientChannel,
    legs: readonly LegSpec[],
    readonly principal: Principal,
    readonly deps: CoreDeps,
    federated: boolean,
  ) {
    for (const spec of legs) this.legs.set(spec.server, new Leg(spec));
    this.naming = federated ? federatedNaming(() => this.legs.keys()) : singleNaming(legs[0]!.server);
    this.home = federated ? null : legs[0]!.server;
    const { credential, address } = principal;
    // Which OAuth client acts for the user: on every MCP event, so a SIEM can tell Claude Code from Cursor.
    this.caller = { ...clientAddressData(address), ...(credential.kind === 'oauth' ? { oauthClient: credential.client } : {}) };
  }

  /**
   * Audits the session start (who from where, over which transport: the address with every
   * event), confirms its grants (`confirmGrants`, once the session can hear of grants ending)
   * and starts every upstream; client frames wait for it, in order.
   */
  async start(client: ClientEdge, confirmGrants: () => Promise<void>): Promise<void> {
    for (const leg of this.legs.values()) this.wire(leg);
    this.confirmGrants = confirmGrants;
    const servers = [...this.legs.keys()];
    this.ready = (async () => {
      try {
        await this.audit({ type: 'mcp.session.start', outcome: 'SUCCESS', data: { ...(this.naming.federated ? { federated: true, servers } : {}), grants: this.grantIds(), transport: client.transport } });
      } catch (error) {
        // Nothing reaches a server unrecorded, so no session runs while the log cannot be written;
        // the client hears it as a request would (broker_unavailable), not as an upstream failure.
        void this.end(CLOSE.brokerUnavailable, 'the audit log cannot be written, so the session cannot start', { code: ACCESS_DENIED, reason: 'broker_unavailable' });
        throw error;
      }
      await confirmGrants();
      if (this.ended) return;
      await Promise.all([...this.legs.values()].map((leg) => leg.upstream.start()));
    })();
    await this.ready;
    if (!this.ended) this.armExpiryTimer();
  }

  private wire(leg: Leg): void {
    leg.upstream.onmessage = (message, bytes) => {
      if (this.ended || this.legs.get(leg.server) !== leg) return;
      try {
        const { message: classified, refusal, refused } = classifyUpstream(message, bytes);
        if (!refusal) return handleUpstreamMessage(this, leg, classified, bytes);
        if (!refused) return leg.send(refusal);
        // Recorded before the server hears, as the broker's other refusals of its requests are (relay.ts).
        void this.audit({ ...serverRequestEvent(refused, 'DENIED', { reason: 'nested_too_deep' }), server: leg.server })
          .catch(() => {})
          .then(() => leg.send(refusal));
      } catch (error) {
        // Called from a transport's event handler, where a throw would end the process and
        // every session on it: whatever one server's message does fails only that server.
        this.upstreamMessageFailed(leg, error);
      }
    };
    leg.upstream.onclose = (reason) => this.dropLeg(leg, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: reason });
  }

  /** Handling a message of `leg`'s server failed (a fault of ours it brought out): that server leaves the session, the rest go on. */
  upstreamMessageFailed(leg: Leg, error: unknown): void {
    this.deps.logger.error({ err: error, sessionId: this.id, server: leg.server }, 'handling an upstream message failed');
    this.dropLeg(leg, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: 'the broker could not handle a message of this server' });
  }

  /**
   * A frame from the client, handled once the session has started. An edge that had to
   * parse it already (Streamable HTTP: which answers a POST waits for) hands that over.
   */
  receive(text: string, parsed?: Parsed): void {
    void this.ready.then(() => this.fromClient(text, parsed), () => {});
  }

  grantIds(): string[] {
    return [...this.legs.values()].flatMap((leg) => leg.grants.ids());
  }

  hasGrant(grantId: string): boolean {
    return [...this.legs.values()].some((leg) => leg.grants.has(grantId));
  }

  /**
   * A grant of the session's person was issued while it runs: a server it already reaches
   * allows more at once; a federated session adds the server (`join` makes its upstream, or
   * says it cannot) and initializes it as the client did. Either way the client hears that
   * its lists changed, so the tools appear without reconnecting.
   */
  async grantIssued(grant: GrantRecord, join: () => LegSpec | null, ended: () => boolean): Promise<void> {
    // One at a time up to the record: two grants for a server not in the session yet must not both add it.
    const admitted = this.admitting.then(() => this.admit(grant, join, ended));
    this.admitting = admitted.catch(() => {});
    const joined = await admitted;
    if (joined) await this.initializeJoined(joined.leg, joined.params);
  }

  /**
   * Records the grant in the session (`mcp.session.grant_added`), and only once it is
   * recorded lets it act: a server hears nothing of the session, and a server the session
   * reaches allows nothing more, on a grant the audit log does not show it took. When the
   * log cannot be written the grant is not taken (fail closed): the next connection takes
   * it, and the server may join with the next grant issued for it. A grant that `ended`
   * (revoked) while it was recorded is not taken: its revocation went by before the session
   * held it. Returns a server that joins, with the client's initialize params read as it
   * took its place (a client initialize after that includes it).
   */
  private async admit(grant: GrantRecord, join: () => LegSpec | null, ended: () => boolean): Promise<{ leg: Leg; params: unknown } | null> {
    if (this.ended) return null;
    const present = this.legs.get(grant.server);
    if (present ? present.grants.has(grant.id) : !this.naming.federated) return null;
    const spec = present ? null : join();
    if (!present && !spec) return null;
    try {
      await this.audit({ type: 'mcp.session.grant_added', outcome: 'SUCCESS', server: grant.server, data: { grantId: grant.id, grants: [...new Set([...this.grantIds(), grant.id])] } });
    } catch (error) {
      this.deps.logger.warn({ err: error, sessionId: this.id, server: grant.server, grantId: grant.id }, 'audit append failed: the grant was not taken into the live session');
      return this.notJoining(spec);
    }
    if (this.ended || ended()) return this.notJoining(spec);
    if (present) {
      // The server left meanwhile (its other grants ended): this grant brings it back.
      if (this.legs.get(grant.server) !== present) return this.admit(grant, join, ended);
      if (present.grants.add(grant)) this.grantsChanged(present);
      return null;
    }
    const leg = new Leg(spec!);
    this.legs.set(leg.server, leg);
    this.wire(leg);
    return { leg, params: this.initializeParams };
  }

  /** A server that was to join does not: its unstarted upstream closes and its place is given back (a session that ended gave it back with the others, onended). */
  private notJoining(spec: LegSpec | null): null {
    if (!spec) return null;
    void spec.upstream.close().catch(() => {});
    if (!this.ended) this.onlegdropped?.(spec.server);
    return null;
  }

  /** A server that joined the live session starts, and is initialized as the client initialized the others (`params`: not yet when undefined). */
  private async initializeJoined(leg: Leg, params: unknown): Promise<void> {
    try {
      await leg.upstream.start();
      // Not initialized yet: the client's initialize reaches this server with the others.
      if (params === undefined) return this.grantsChanged(leg, false);
      const { answer } = leg.request('initialize', params);
      leg.init = answer.then((a) => (a.kind === 'result' ? { result: a.result, capabilities: isRecord(a.result.capabilities) ? a.result.capabilities : {} } : null));
      if (!(await leg.init)) return this.dropLeg(leg, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: `${leg.server} refused initialize` });
      leg.notify('notifications/initialized');
      this.grantsChanged(leg);
    } catch (error) {
      this.dropLeg(leg, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: `${leg.server} failed to start: ${(error as Error).message}` });
    }
  }

  private grantsChanged(leg: Leg, tellClient = true): void {
    if (this.ended || this.legs.get(leg.server) !== leg) return;
    this.naming.listsChanged();
    this.armExpiryTimer();
    if (tellClient) for (const list of ['tools', 'prompts', 'resources'] as const) this.notifyClient(`notifications/${list}/list_changed`);
  }

  /** A reviewer accepted a tool's new definition: a tool hidden from the client may be shown again. */
  toolPinsChanged(server: string): void {
    if (this.ended || !this.legs.has(server) || this.deps.pinning?.mode(server) !== 'pin') return;
    this.naming.listsChanged();
    this.notifyClient('notifications/tools/list_changed');
  }

  /** A grant of this session ended elsewhere (revocation fan-out or the store said so). */
  grantEnded(grantId: string, why: GrantEnd): void {
    for (const leg of this.legs.values()) leg.grants.end(grantId, why);
    this.enforceGrants();
  }

  /**
   * Re-reads the grants from the store (pub/sub can drop messages); refuses requests while it
   * cannot. Coming back from that, it first confirms the credential the session was opened
   * with: its revocation may have been announced while this instance could not hear it, and
   * the credential's own re-check runs on a timer of its own. `confirm.credential` ends the
   * session itself when the credential has ended.
   */
  async revalidate(confirm: SessionConfirmation): Promise<void> {
    try {
      if (this.unverified && !(await confirm.credential())) return;
      const now = this.deps.clock.now();
      for (const leg of this.legs.values()) for (const id of leg.grants.ids()) leg.grants.refresh(await confirm.grant(id), id, now);
      this.unverified = false;
      this.enforceGrants();
    } catch {
      this.unverified = true;
    }
  }

  /**
   * Drops servers whose grants are gone (the session ends with the last), cuts off calls in
   * flight that no grant left allows, and re-arms the expiry timer.
   */
  enforceGrants(): void {
    const now = this.deps.clock.now();
    for (const leg of [...this.legs.values()]) {
      const gone = leg.grants.check(now);
      if (gone) this.dropLeg(leg, { code: ACCESS_DENIED, reason: gone, detail: gone === 'grant_revoked' ? 'grant revoked' : 'grant expired' });
    }
    if (this.grantsMoved()) this.cutOffLapsed();
    this.armExpiryTimer();
  }

  /** Whether some server's grants changed since calls and tasks were last checked (runs on every request: most of the time they did not). */
  private grantsMoved(): boolean {
    let moved = false;
    for (const leg of this.legs.values()) {
      const mark = leg.grants.mark();
      if (this.checkedMarks.get(leg) === mark) continue;
      this.checkedMarks.set(leg, mark);
      moved = true;
    }
    return moved;
  }

  /** Calls in flight and tasks running on servers that stay, whose grant ended with no other allowing them: cut off. */
  private cutOffLapsed(): void {
    const here = (leg: Leg) => this.legs.get(leg.server) === leg;
    // A dropped server answered its calls itself; a call not sent yet is checked as it is sent (ask).
    for (const call of [...this.calls.values()]) {
      const allowed = call.allowedBy;
      if (allowed?.sent && here(allowed.leg) && !this.stillAllowed(allowed)) this.cutOff(call, allowed);
    }
    // Marking a task cut off changes no entry of the map running() walks.
    for (const task of this.serverTasks.running()) {
      if (!here(task.leg) || this.stillAllowed(task.madeBy.allowedBy)) continue;
      // Its status and result are refused from now on (client-requests.ts); the server stops the work it no longer may do.
      task.cutOff = true;
      this.recordLapse(task.madeBy.allowedBy, { method: task.madeBy.method, taskId: task.taskId, inFlight: true }, 'task ended');
      void task.leg.init?.then((init) => {
        if (init && isRecord(init.capabilities.tasks) && init.capabilities.tasks.cancel !== undefined) task.leg.request('tasks/cancel', { taskId: task.taskId });
      });
    }
  }

  /** Whether what a grant allowed is allowed still, by that grant or another (which `allowed` then names). */
  stillAllowed(allowed: AllowedBy): boolean {
    const { subject, leg } = allowed;
    if (subject.kind === 'tool' && leg.shownWritable(subject.name) !== subject.writable) {
      // Listed since, read-only or not: decided again on what the session is shown now.
      allowed.subject = { ...subject, writable: leg.shownWritable(subject.name) };
      allowed.mark = STALE_MARK;
    }
    const grantId = leg.grants.allowingGrant(allowed.subject, allowed.grantId, allowed.mark, this.deps.clock.now());
    if (grantId === null) return false;
    allowed.grantId = grantId;
    allowed.mark = allowed.leg.grants.mark();
    return true;
  }

  /**
   * Whether a client message's related-task metadata (in the client's names) names a task
   * that is not the session's: not one a server created for it, nor, in an answer to
   * `to`'s request, one the client runs for `to`. With a server whose task store all its
   * clients share, a task's id is all it takes to reach it.
   */
  namesForeignTask(params: unknown, to?: Leg): boolean {
    const taskId = relatedTaskOf(params);
    if (taskId === undefined || (to !== undefined && this.clientTasks.get(taskId) === to)) return false;
    const target = this.naming.in('task', taskId);
    return target === null || !this.serverTasks.owns(target.server, target.name);
  }

  /** Whether a server's message relates (in its own ids) to a task that is neither one it runs for this session nor one the client runs for it. */
  relatesToOthers(leg: Leg, params: unknown): boolean {
    const taskId = relatedTaskOf(params);
    return taskId !== undefined && !this.serverTasks.owns(leg.server, taskId) && this.clientTasks.get(taskId) !== leg;
  }

  /**
   * A call running on a server that another grant keeps in the session, when the grant that
   * allowed it ended: the client is answered that access ended, not with what the server
   * found under a grant it no longer holds, and the server is told to stop (MCP cancellation).
   */
  private cutOff(call: Call, allowed: AllowedBy): void {
    const { reason, detail } = this.recordLapse(allowed, { method: call.method, id: auditedId(call.id), inFlight: true }, 'request ended while it ran');
    this.reply(call, denial(call.id, reason, detail));
    this.cancelParts(call.parts, 'access ended');
  }

  /** Ends the session: answers in-flight requests, closes both sides, audits. Idempotent. */
  async end(code: number, reason: string, pending: PendingAnswer | null): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.expiry?.cancel();
    // No reason given: the client or its edge ended it (closed, DELETE, idle), nothing failed.
    const answer = pending ?? { code: INTERNAL_ERROR, reason: 'session_ended' as const };
    const unanswered = (id: JsonRpcId) => notCompleted(id, answer.code, answer.reason, reason);
    for (const id of this.calls.keys()) this.channel.send(unanswered(id));
    this.calls.clear();
    for (const id of this.serverRequests.keys()) this.forgetServerRequest(id);
    this.channel.close(code, reason, unanswered);
    // Upstream clean-up (aborts, DELETE) waits a turn: when a revocation ends many sessions
    // at once, every client hears its close before any upstream work delays the next one.
    await setImmediate();
    const legs = [...this.legs.values()];
    this.legs.clear();
    await Promise.all(
      legs.map((leg) => {
        leg.drop({ code: answer.code, reason: answer.reason, detail: reason });
        return leg.upstream.close().catch((error: unknown) => this.deps.logger.warn({ err: error, sessionId: this.id, server: leg.server }, 'upstream close failed'));
      }),
    );
    const data = { code, reason, requests: this.requests, clientInfo: this.clientInfo, grants: legs.flatMap((leg) => leg.grants.ids()) };
    await this.audit({ type: 'mcp.session.end', outcome: 'SUCCESS', data, bounded: ['clientInfo'] }).catch(() => {});
    this.onended?.();
  }

  /**
   * A server leaves the session (its grants ended, its upstream failed): its requests in
   * flight are answered with why, its names resolve no more, and the client hears that
   * the lists changed; the session ends with the last server.
   */
  dropLeg(leg: Leg, why: { code: number; reason: string; detail: string }): void {
    if (this.ended || this.legs.get(leg.server) !== leg) return;
    this.legs.delete(leg.server);
    this.naming.forget(leg.server);
    for (const [id, request] of this.serverRequests) if (request.leg === leg) this.forgetServerRequest(id);
    for (const [taskId, owner] of this.clientTasks) if (owner === leg) this.clientTasks.delete(taskId);
    for (const [elicitationId, owner] of this.elicitations) if (owner === leg) this.elicitations.delete(elicitationId);
    this.serverTasks.forget(leg);
    this.checkedMarks.delete(leg);
    // Calls running there when access ended are recorded refused, as when another grant keeps the server (cutOff).
    if (why.code === ACCESS_DENIED) {
      for (const call of this.calls.values()) if (call.allowedBy?.sent && call.allowedBy.leg === leg) this.recordLapse(call.allowedBy, { method: call.method, id: auditedId(call.id), inFlight: true }, 'request ended while it ran');
    }
    leg.drop(why);
    this.onlegdropped?.(leg.server);
    // A session with the broker tool lives on without servers: the person can ask again.
    if (this.legs.size === 0 && !this.deps.requestAccess) {
      // The last one ends the session, which closes its upstream after the client (end()).
      this.legs.set(leg.server, leg);
      const grantEnded = why.code === ACCESS_DENIED;
      void this.end(grantEnded ? CLOSE.grantEnded : CLOSE.upstreamFailed, grantEnded ? why.detail : `upstream failed: ${why.detail}`, { code: why.code, reason: why.reason as PendingAnswer['reason'] });
      return;
    }
    void leg.upstream.close().catch(() => {});
    void leg.init?.then((init) => {
      for (const list of ['tools', 'prompts', 'resources'] as const) {
        if (init?.capabilities[list] !== undefined) this.notifyClient(`notifications/${list}/list_changed`);
      }
    });
  }

  /**
   * Sends a request of a client call to one server, giving it a progress token of ours
   * when the client asked for progress. Checked again here, after whatever the handler
   * awaited (the audit, a name lookup): a call cancelled meanwhile, a server that left or a
   * session that ended sends nothing upstream, nor does one whose grant ended meanwhile
   * while another grant keeps the server in the session.
   */
  ask(call: Call, leg: Leg, method: string, params: unknown): Promise<LegAnswer> {
    if (this.ended || this.calls.get(call.id) !== call) return Promise.resolve({ kind: 'cancelled' });
    // The request itself, not what is asked on its way (a listing read for a tool's pin).
    const allowed = method === call.method ? call.allowedBy : undefined;
    if (allowed?.leg === leg) {
      if (!this.stillAllowed(allowed)) return Promise.resolve(this.lapsed(call, allowed));
      allowed.sent = true;
    }
    const span = call.span && this.deps.tracer!.startSpan(`mcp.upstream ${method}`, { kind: SpanKind.CLIENT, attributes: { 'portcullis.server': leg.server, 'mcp.method.name': method } }, trace.setSpan(context.active(), call.span));
    const sent = this.withProgressToken(call, leg, params);
    // Sent inside the upstream span: an upstream trusted with it (propagateTraceContext) hears its traceparent.
    const { id, answer } = span ? context.with(trace.setSpan(context.active(), span), () => leg.request(method, sent)) : leg.request(method, sent);
    call.parts.push({ leg, id });
    if (!span) return answer;
    return answer.then((settled) => {
      span.setAttribute('portcullis.upstream.answer', settled.kind);
      span.end();
      return settled;
    });
  }

  /** A call whose grant ended between its decision and its sending: recorded as refused, and sent nowhere. */
  private lapsed(call: Call, allowed: AllowedBy): LegAnswer {
    const { reason, detail } = this.recordLapse(allowed, { method: call.method, id: auditedId(call.id) }, 'request ended before it was sent');
    this.enforceGrants();
    return { kind: 'gone', code: ACCESS_DENIED, reason, detail };
  }

  /**
   * Why what a grant allowed is not allowed now (stillAllowed said so): the grant ended, or,
   * live still, it is read-only and the tool is no longer shown read-only. `what`: what
   * ended, and when, for the detail.
   */
  lapseOf({ leg, subject, grantId }: AllowedBy, what: string): { reason: GrantEnd | 'tool_not_granted'; detail: string } {
    if (!leg.grants.has(grantId) || subject.kind !== 'tool') return { reason: leg.grants.lastEnded(), detail: `the grant that allowed this ${what}` };
    return { reason: 'tool_not_granted', detail: `tool ${JSON.stringify(subject.name)} is not read-only as listed now, and your grant covers read-only tools only` };
  }

  /** A request allowed by a grant that then ended: it was recorded as allowed, this records it refused after all (`inFlight`: once sent). */
  private recordLapse(allowed: AllowedBy, data: Record<string, unknown>, what: string): { reason: GrantEnd | 'tool_not_granted'; detail: string } {
    const { leg, subject, grantId } = allowed;
    const lapse = this.lapseOf(allowed, what);
    const tool = subject.kind === 'tool' ? subject.name : null;
    const clause = lapse.reason === 'tool_not_granted' ? { clause: 'not_read_only' } : {};
    void this.audit({ type: 'mcp.request', outcome: 'DENIED', server: leg.server, tool, data: { ...data, reason: lapse.reason, ...clause, grantId } }).catch(() => {});
    return lapse;
  }

  /**
   * Answers a client call, unless it was cancelled or the session ended meanwhile (then its
   * id may already belong to a newer call, which this answer must not touch).
   */
  reply(call: Call, message: object | null): void {
    if (this.calls.get(call.id) !== call) return;
    this.calls.delete(call.id);
    if (call.progressToken === undefined) {
      if (message) this.channel.send(message);
      return;
    }
    this.progress.delete(call.progressToken);
    // The last progress notification and the answer often leave the server back to back:
    // sent in one write, a client may read both at once and (the MCP SDK does) drop the
    // progress that was queued behind the answer. A turn of the loop between them keeps
    // the order the server meant.
    if (message) globalThis.setImmediate(() => this.sendToClient(message));
  }

  /** The client's answer to a server's answer (or its failure), as a reply to `clientId`. */
  answerOf(clientId: JsonRpcId, answer: LegAnswer, map: (result: Record<string, unknown>) => Record<string, unknown> = (r) => r): object | null {
    switch (answer.kind) {
      case 'result':
        return { jsonrpc: '2.0', id: clientId, result: map(answer.result) };
      case 'error':
        return { jsonrpc: '2.0', id: clientId, error: answer.error };
      case 'gone':
        return notCompleted(clientId, answer.code, answer.reason, answer.detail);
      case 'cancelled':
        return null;
    }
  }

  /**
   * Audits a refused request (best effort: refusing needs no audit log) and returns its
   * reply. `why` is the decision's detail for the audit record (grant, rule, clause,
   * pattern); `data` what the client is told beside the reason.
   */
  async refuse(request: JsonRpcRequest, reason: DenialReason | string, detail: string, where: Refusal = {}): Promise<JsonRpcError> {
    await this.audit({ ...requestEvent(request, where.tool ?? null, 'DENIED', { reason, ...where.why }), server: where.server ?? null }).catch(() => {});
    if (where.code !== undefined && where.code !== ACCESS_DENIED) return errorReply(request.id, where.code, detail, { reason, ...where.data });
    return denial(request.id, reason as DenialReason, detail, where.data);
  }

  /**
   * Tells the servers running a call's parts to stop (MCP cancellation). The call counts as
   * one request in flight until the last of its servers may have stopped (Leg.cancel):
   * a request the client cancels over and over cannot leave unbounded work upstream.
   */
  cancelParts(parts: Call['parts'], reason: unknown): void {
    let running = 0;
    const released = () => {
      if (--running === 0) this.cancelledRunning--;
    };
    for (const part of parts) if (part.leg.cancel(part.id, reason, released)) running++;
    if (running > 0) this.cancelledRunning++;
  }

  /**
   * A request past a limit, refused as every limit refuses one: -32001 `rate_limited` with
   * the clause that refused and a retry-after, audited with both.
   */
  refuseOverLimit(request: JsonRpcRequest, { clause, retryAfterMs }: { clause: string; retryAfterMs: number }, where: Refusal): Promise<JsonRpcError> {
    const limit = { clause, retryAfterMs };
    return this.refuse(request, 'rate_limited', `rate limit reached (${clause}); retry in ${Math.ceil(retryAfterMs / 1000)} s`, { ...where, why: limit, data: limit });
  }

  /**
   * `mcp.response` for a tool result of at least `resultFloorBytes`, appended once the result
   * was relayed: a record for the outlier detector, which decides nothing, so the result
   * never waits on it (a failure is logged).
   */
  recordResult(request: JsonRpcRequest, server: string, tool: string, answer: LegAnswer): void {
    const floor = this.deps.resultFloorBytes;
    if (floor === undefined || answer.kind !== 'result' || answer.bytes === undefined || answer.bytes < floor) return;
    this.audit({ ...responseEvent(request, tool, answer.bytes, answer.result.isError === true), server }).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, sessionId: this.id }, 'audit append failed: mcp.response not recorded');
    });
  }

  /** Audit first: true once the event is durable, false (and the client told) when it cannot be written. */
  async audited(call: Call, event: SessionAuditEvent): Promise<boolean> {
    try {
      await this.audit(event);
      return true;
    } catch (error) {
      this.deps.logger.warn({ err: error, sessionId: this.id }, 'audit append failed: request refused');
      this.reply(call, denial(call.id, 'broker_unavailable', 'the audit log cannot be written, so nothing is forwarded'));
      return false;
    }
  }

  audit(event: SessionAuditEvent): Promise<unknown> {
    return this.deps.audit.append({ ...event, data: { ...event.data, ...this.caller }, server: event.server !== undefined ? event.server : this.home, actor: this.principal.user.email, sessionId: this.id });
  }

  sendToClient(message: object): void {
    if (!this.ended) this.channel.send(message);
  }

  notifyClient(method: string, params?: unknown): void {
    this.sendToClient({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  }

  /**
   * A request a server makes of the client goes out under an id of ours, so the answer
   * finds its way back; a progress token the server chose for it, under a token of ours.
   */
  relayServerRequest(leg: Leg, upstreamId: JsonRpcId, held: RequestOfClient, method: string, params: unknown): void {
    const id = this.nextServerRequestId++;
    // The server cancelled it while it was audited: it is over.
    if (!leg.relayedToClient(upstreamId, held, id)) return;
    const theirs = isRecord(params) && isRecord(params._meta) ? params._meta.progressToken : undefined;
    const token = typeof theirs === 'string' || typeof theirs === 'number' ? `s${this.nextToken++}` : undefined;
    if (token) this.serverProgress.set(token, { leg, token: theirs as string | number });
    // A client that never answers (no stream to hear the request on, a request it ignores) must not hold the server's place for good.
    const timer = setTimeout(() => this.stopWaiting(id), this.deps.clientAnswerTimeoutMs).unref();
    this.serverRequests.set(id, { leg, upstreamId, held, timer, ...(token ? { token } : {}) });
    const sent = token ? { ...(params as Record<string, unknown>), _meta: { ...((params as Record<string, unknown>)._meta as object), progressToken: token } } : params;
    this.sendToClient({ jsonrpc: '2.0', id, method, ...(sent === undefined ? {} : { params: sent }) });
  }

  /** A server's request of the client is over (answered, or cancelled by the server): its id and token go. */
  forgetServerRequest(id: number): void {
    const entry = this.serverRequests.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.serverRequests.delete(id);
    entry.leg.requestOfClientOver(entry.upstreamId, entry.held);
    if (entry.token) this.serverProgress.delete(entry.token);
  }

  /** The client did not answer a server's request in time: the server hears so, the client that it is cancelled, and the place goes. */
  private stopWaiting(id: number): void {
    const entry = this.serverRequests.get(id);
    if (!entry) return;
    this.forgetServerRequest(id);
    const seconds = this.deps.clientAnswerTimeoutMs / 1000;
    this.notifyClient('notifications/cancelled', { requestId: id, reason: `no answer within ${seconds} s (broker.clientAnswerTimeoutSeconds)` });
    entry.leg.send(errorReply(entry.upstreamId, INTERNAL_ERROR, `the client did not answer within ${seconds} s`));
  }

  /** Records that the client runs task `taskId` for `leg` (bounded: the oldest are forgotten first). */
  clientTaskFor(taskId: string, leg: Leg): void {
    remember(this.clientTasks, taskId, leg);
  }

  /** Records that `leg` asked the client for URL-mode elicitation `elicitationId`; false (and nothing recorded) when another server of the session did. */
  elicitationBy(elicitationId: string, leg: Leg): boolean {
    const owner = this.elicitations.get(elicitationId);
    if (owner !== undefined && owner !== leg) return false;
    remember(this.elicitations, elicitationId, leg);
    return true;
  }

  /** Whether the store could not confirm the session's grants when last asked (see reconfirm). */
  get unconfirmed(): boolean {
    return this.unverified;
  }

  /**
   * Asks the store for the grants again (the session's own re-read; calls arriving
   * meanwhile share it): whether they are confirmed now. The store may be back since the
   * last revalidation, and nothing waits for the next one; during an outage this costs
   * one failed read (commandTimeoutMs).
   */
  async reconfirm(): Promise<boolean> {
    await (this.confirming ??= this.confirmGrants()
      .catch(() => void (this.unverified = true))
      .finally(() => (this.confirming = null)));
    return !this.unverified;
  }

  isEnded(): boolean {
    return this.ended;
  }

  private withProgressToken(call: Call, leg: Leg, params: unknown): unknown {
    const meta = isRecord(params) && isRecord(params._meta) ? params._meta : undefined;
    const token = meta?.progressToken;
    if (typeof token !== 'string' && typeof token !== 'number') return params;
    // One token of ours per call (a fan-out shares it): a server can report progress only
    // for a request it was sent, and never under another server's token.
    call.progressToken ??= `p${this.nextToken++}`;
    const entry = this.progress.get(call.progressToken) ?? { clientToken: token, servers: new Set<string>() };
    entry.servers.add(leg.server);
    this.progress.set(call.progressToken, entry);
    return { ...(params as Record<string, unknown>), _meta: { ...meta, progressToken: call.progressToken } };
  }

  private async fromClient(text: string, preParsed?: Parsed): Promise<void> {
    if (this.ended) return;
    const parsed = preParsed ?? parseFrame(text);
    if (!parsed.ok) return this.refusedFrame(parsed);
    const message = parsed.message;
    if (message.kind === 'notification') return handleClientNotification(this, message);
    if (message.kind === 'result' || message.kind === 'error') return handleClientAnswer(this, message);
    this.requests++;
    if (this.calls.has(message.id)) {
      this.channel.send(await this.refuse(message, 'duplicate_request_id', 'Invalid Request: a request with this id is already in flight', { code: INVALID_REQUEST }));
      return;
    }
    if (this.inFlight + this.cancelledRunning >= this.deps.maxInFlight) {
      this.channel.send(await this.refuseOverLimit(message, { clause: `broker.maxInFlightPerSession: ${this.deps.maxInFlight}`, retryAfterMs: CONCURRENCY_RETRY_MS }, { tool: toolOf(message) }));
      return;
    }
    // Taken before any await: a second request with this id, arriving meanwhile, is refused above.
    const call: Call = { id: message.id, method: message.method, parts: [] };
    this.calls.set(message.id, call);
    this.inFlight++;
    try {
      this.enforceGrants();
      if (this.ended) return;
      if (this.unverified) {
        const confirmed = await this.reconfirm();
        if (this.ended) return;
        if (!confirmed) return this.reply(call, await this.refuse(message, 'broker_unavailable', 'the broker cannot confirm your grants right now'));
      }
      const { tracer } = this.deps;
      if (!tracer) await handleClientRequest(this, message, call);
      else await inSpan(tracer, spanName(message.method), { 'mcp.method.name': message.method.slice(0, 128), 'mcp.session.id': this.id }, (span) => ((call.span = span), handleClientRequest(this, message, call)));
    } catch (error) {
      this.deps.logger.error({ err: error, sessionId: this.id, method: message.method }, 'request failed in the broker');
      this.reply(call, errorReply(message.id, INTERNAL_ERROR, 'Internal error'));
    } finally {
      this.inFlight--;
    }
  }

  /** A frame refused before it was understood: audited when it was a message at all (ill-formed text). */
  private async refusedFrame(parsed: Exclude<ReturnType<typeof parseFrame>, { ok: true }>): Promise<void> {
    const refused = parsed.illFormed;
    const why = refused && { reason: 'ill_formed_text', illFormedText: true, at: refused.at };
    if (refused && (refused.message.kind === 'result' || refused.message.kind === 'error')) return handleClientAnswer(this, refused.message, why);
    if (refused) await this.audit(refusedFrameEvent(refused.message as JsonRpcMessage & { kind: 'request' | 'notification' }, why!)).catch(() => {});
    this.channel.send(parsed.reply);
  }

  /** One timer at the soonest grant expiry, set again only when that moment changes (not on every message). */
  private armExpiryTimer(): void {
    let next = Infinity;
    for (const leg of this.legs.values()) next = Math.min(next, leg.grants.nextExpiry() ?? Infinity);
    if (this.ended || next === Infinity) {
      this.expiry?.cancel();
      this.expiry = undefined;
      return;
    }
    if (this.expiry?.at === next) return;
    this.expiry?.cancel();
    this.expiry = {
      at: next,
      ...timerAt(this.deps.clock, next, () => {
        this.expiry = undefined;
        this.enforceGrants();
      }),
    };
  }
}

/** Adds an entry to a map kept to `MAX_OWNED` entries (the oldest are forgotten first). */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_OWNED) map.delete(map.keys().next().value!);
}

/** A span's name: the method when it looks like one (`tools/call`); a client's made-up method does not name spans. */
function spanName(method: string): string {
  return /^[a-z]+(?:\/[a-zA-Z]+){0,2}$/.test(method) ? `mcp ${method}` : 'mcp request';
}

/** The answer to a request the session could not complete: a denial when access ended, else why it stopped. */
function notCompleted(id: JsonRpcId, code: number, reason: string, detail: string): JsonRpcError {
  return code === ACCESS_DENIED ? denial(id, reason as DenialReason, detail) : errorReply(id, code, `Request not completed: ${detail}`, { reason });
}
