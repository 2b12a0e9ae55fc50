import type { IncomingMessage } from 'node:http';
import type { AccessEvents } from '../server/access/access-events.js';
import type { AccessService } from '../server/access/access-service.js';
import { clientAddressData } from '../server/audit/client-address.js';
import { grantStatus } from '../server/access/types.js';
import type { GrantRecord } from '../server/access/types.js';
import type { Tracer } from '@opentelemetry/api';
import type { Clock } from '../server/clock.js';
import type { McpServerConfig, PortcullisConfig } from '../server/config/schema.js';
import { LimitExceededError, UnauthenticatedError } from '../server/errors.js';
import { UpgradeRefused } from '../server/http/upgrade-router.js';
import type { BearerRefusal } from '../server/http/www-authenticate.js';
import { describeCredentialEnd } from '../server/identity/credential-watch.js';
import type { CredentialWatch } from '../server/identity/credential-watch.js';
import { sameEmail } from '../server/identity/email-key.js';
import type { Identity } from '../server/identity/index.js';
import type { Principal } from '../server/identity/principal.js';
import type { Lease, LeaseKeeper } from '../server/limits/lease-keeper.js';
import type { Logger } from '../server/log.js';
import type { SecretScrubber } from '../server/text/secret-scrubber.js';
import type { Stores } from '../server/stores/types.js';
import { GrantSet } from './grant-set.js';
import { ACCESS_DENIED, INTERNAL_ERROR } from './jsonrpc.js';
import { CLOSE } from './client-link.js';
import type { CallLimits } from './core/call-limits.js';
import type { ClientChannel } from './core/channel.js';
import { SessionCore } from './core/session-core.js';
import type { LegSpec } from './core/leg.js';
import type { ClientEdge, SessionConfirmation } from './core/session-core.js';
import type { RequestAccess } from './core/request-access-tool.js';
import { createHttpAgents } from './upstreams/streamable-http.js';
import { configuredModes, ToolPinning } from './tool-pinning.js';
import { createUpstream } from './upstreams/upstream.js';

/** Reported as serverInfo.version by the federated endpoints. */
const BROKER_VERSION = '0.1.0';
/** How many ended grant ids an instance remembers (SessionRegistry.endedGrants): a few hundred KB. */
const ENDED_GRANTS_KEPT = 10_000;
/** Sessions a revalidation walk checks at once. */
const REVALIDATION_WALKERS = 8;
/** Query parameters that would put a credential in a URL (logs, proxies, history): refused. */
const CREDENTIAL_PARAMS = /(^|[?&])(access_token|token|authorization|auth|api_key|apikey)=/i;

export interface BrokerDeps {
  config: PortcullisConfig;
  stores: Stores;
  identity: Identity;
  events: AccessEvents;
  clock: Clock;
  logger: Logger;
  /** The logger's scrubber, for what upstreams write that goes to the log (stderr). */
  scrubber: SecretScrubber;
  /** Directory stdio upstreams' `cwd` is relative to (the config file's). */
  baseDir: string;
  /** Ends sessions whose token or sign-in ends (4401). */
  credentialWatch: CredentialWatch;
  /** Per-user session caps across instances. */
  leases: LeaseKeeper;
  /** Rate limits on tool calls (servers[].rateLimits). */
  callLimits: CallLimits;
  /** Files the requests of the broker tool (portcullis__request_access). */
  access: Pick<AccessService, 'createRequest'>;
  /** The client address of an upgrade request, as express gives other requests theirs (server/http/client-address.ts). */
  addressOf: (request: IncomingMessage) => string | undefined;
  /** Spans the sessions' requests; null when tracing is off. */
  tracer: Tracer | null;
}

/** A caller let in, with the place it holds under the user's cap (released when no session comes of it). */
export interface Admission {
  federated: boolean;
  /** The session offers the broker tool portcullis__request_access (and may start with no server). */
  brokerTool: boolean;
  servers: McpServerConfig[];
  principal: Principal;
  grants: GrantRecord[];
  lease: Lease;
}

/** Upstream processes a session over these servers starts (one per stdio server). */
function processesOf(servers: readonly McpServerConfig[]): number {
  return servers.filter((s) => s.transport === 'stdio').length;
}

/** Refuses a request target that carries a credential in its query (401, as every MCP endpoint does). */
export function refuseCredentialInUrl(target: string): void {
  const query = target.indexOf('?');
  if (query >= 0 && CREDENTIAL_PARAMS.test(target.slice(query))) throw new UpgradeRefused(401, 'a credential in the URL is refused: send Authorization: Bearer', { error: 'invalid_request', description: 'credentials in the URL are refused' });
}

/**
 * Who may open an MCP session and what becomes of it, whatever the transport (WebSocket,
 * Streamable HTTP): admission (grants, the per-user cap, the instance caps), the live
 * sessions of this instance, and what ends them from outside: grant ends and anomaly
 * suspensions on every instance through the access events, periodic re-validation against
 * the store (pub/sub can drop messages), the end of the credential that opened them, and
 * shutdown.
 */
export class SessionRegistry {
  private readonly sessions = new Set<SessionCore>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void)[];
  readonly agents = createHttpAgents();
  private closing = false;
  /** Stdio upstream processes of this instance's live sessions, in all and per session. */
  private processes = 0;
  private readonly sessionProcesses = new Map<SessionCore, number>();
  private readonly requestAccess: RequestAccess;
  private readonly pinning: ToolPinning;
  /**
   * Grants this instance heard end, oldest first (at most ENDED_GRANTS_KEPT): an issued
   * grant read while its revocation went by must not be taken in after it. An ended grant
   * never starts again, so remembering is never wrong, only bounded.
   */
  private readonly endedGrants = new Set<string>();
  /** A revalidation walk is under way (revalidate). */
  private walking = false;
  /** Results this big are recorded for the large-payload rule (only while detection and that rule are on). */
  private readonly resultFloorBytes: number | undefined;

  constructor(private readonly deps: BrokerDeps) {
    const { enabled, rules } = deps.config.detection;
    this.resultFloorBytes = enabled && rules.large_payload.enabled ? rules.large_payload.resultFloorBytes : undefined;
    this.pinning = new ToolPinning({
      store: deps.stores.toolPins,
      audit: deps.stores.audit,
      clock: deps.clock,
      logger: deps.logger,
      events: deps.events,
      mode: configuredModes(deps.config.servers),
      onPinsChanged: (server) => {
        for (const session of this.sessions) session.toolPinsChanged(server);
      },
    });
    this.unsubscribe = [
      deps.events.onGrantEnded((event) => {
        this.endedGrants.add(event.grantId);
        if (this.endedGrants.size > ENDED_GRANTS_KEPT) this.endedGrants.delete(this.endedGrants.values().next().value!);
        for (const session of this.sessions) {
          if (session.hasGrant(event.grantId)) session.grantEnded(event.grantId, event.status === 'REVOKED' ? 'grant_revoked' : 'grant_expired');
        }
      }),
      deps.events.onSessionsSuspended(({ user, sessionId }) => {
        for (const session of this.sessions) {
          if (sameEmail(session.principal.user.email, user) && (sessionId === null || session.id === sessionId)) void session.end(CLOSE.suspended, 'anomaly', { code: ACCESS_DENIED, reason: 'anomaly' });
        }
      }),
      deps.events.onRequestChanged((request) => {
        if (request.grantId !== null) void this.grantIssued(request.requester.id, request.grantId);
      }),
    ];
    this.requestAccess = async (principal, ask, filedBy) => {
      // Filed as the user stands now, not as at admission: a session outlives a group the IdP
      // (or SCIM) took away since, and the roles it held then must not file or auto-approve anything.
      const current = await deps.identity.principals.of(principal.user, principal.scopes, principal.credential, deps.clock.now());
      if (!current) throw new UnauthenticatedError('the user behind this session can no longer sign in');
      const { id, status, grantId } = await deps.access.createRequest({ ...principal, user: current.user, roles: current.roles }, ask, filedBy);
      return { id, status, grantId };
    };
    this.timer = setInterval(() => void this.revalidate(), deps.config.broker.revalidateIntervalSeconds * 1000);
    this.timer.unref();
  }

  /** The configured server an endpoint path names (404 when none). */
  server(name: string): McpServerConfig {
    const named = this.deps.config.servers.find((s) => s.name === name);
    if (!named) throw new UpgradeRefused(404, 'unknown MCP server');
    return named;
  }

  /**
   * Who may open what: the single `named` server, or (federated, `named` absent) every
   * configured server the caller holds an active grant for; and a place under the caller's
   * session cap. One rule for every endpoint. An endpoint that `offersBrokerTool` (federated
   * Streamable HTTP, when broker.requestAccessTool is on) lets a caller without any grant
   * in, to ask for one from inside the client. A known caller refused (403) is audited.
   */
  async admit(principal: Principal, named: McpServerConfig | undefined, client: ClientEdge, offersBrokerTool = false): Promise<Admission> {
    if (!principal.scopes.has('mcp')) {
      const message = 'this token lacks the "mcp" scope';
      // RFC 6750 §3.1: the 403 says in its challenge which scope would do (the HTTP edge's own check does the same).
      throw await this.refused(principal, named, client, 'scope_missing', message, { error: 'insufficient_scope', description: message });
    }
    const servers = named ? [named] : this.deps.config.servers;
    const grants = await this.activeGrants(principal, new Set(servers.map((s) => s.name)));
    const brokerTool = !named && offersBrokerTool && this.deps.config.broker.requestAccessTool.enabled;
    if (grants.length === 0 && !brokerTool) throw await this.refused(principal, named, client, 'no_active_grant', `no active grant for ${named?.name ?? 'any server'}`);
    const granted = named ? [named] : servers.filter((s) => grants.some((g) => g.server === s.name));
    const { maxSessionsPerUser } = this.deps.config.broker;
    const lease = await this.deps.leases.take(`mcp-sessions:${principal.user.id}`, maxSessionsPerUser);
    if (!lease) throw new LimitExceededError(`too many live MCP sessions for this user (broker.maxSessionsPerUser: ${maxSessionsPerUser})`);
    return { federated: !named, brokerTool, servers: granted, principal, grants, lease };
  }

  /**
   * `mcp.session.refused` for a caller we know refused a session: what the outlier detector
   * counts as probing. A log that cannot be written changes nothing: it is a refusal either way.
   * A caller without a usable credential (401) is never audited: nobody to name, and anyone
   * could flood the log with them.
   */
  private async refused(principal: Principal, named: McpServerConfig | undefined, client: ClientEdge, reason: string, message: string, challenge: BearerRefusal | null = null): Promise<UpgradeRefused> {
    const data = { status: 403, reason, transport: client.transport, ...clientAddressData(principal.address) };
    await this.deps.stores.audit.append({ type: 'mcp.session.refused', outcome: 'DENIED', actor: principal.user.email, server: named?.name ?? null, data }).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'audit append failed: mcp.session.refused not recorded');
    });
    return new UpgradeRefused(403, message, challenge);
  }

  /**
   * Checked synchronously right before a session opens, so racing admissions cannot
   * overshoot the instance caps, and a session opened after shutdown began (it would miss
   * the shutdown's sweep) never is.
   */
  checkCapacity(admission: Admission): void {
    if (this.closing) throw new UpgradeRefused(503, 'shutting down');
    const { maxSessionsPerInstance, maxUpstreamProcesses } = this.deps.config.broker;
    if (this.sessions.size >= maxSessionsPerInstance) throw new UpgradeRefused(503, `this instance is at capacity (broker.maxSessionsPerInstance: ${maxSessionsPerInstance})`);
    if (this.processes + processesOf(admission.servers) > maxUpstreamProcesses) throw new UpgradeRefused(503, `this instance is at capacity (broker.maxUpstreamProcesses: ${maxUpstreamProcesses})`);
  }

  /** Opens and starts the session of an admission with `channel` as its edge; it holds its place until it ends. */
  open(admission: Admission, channel: ClientChannel, client: ClientEdge): SessionCore {
    const { federated, brokerTool, servers, principal, grants, lease } = admission;
    const processes = processesOf(servers);
    const { logger } = this.deps;
    const legs = servers.map((server) => this.legSpec(server, grants));
    const deps = { audit: this.deps.stores.audit, clock: this.deps.clock, logger, version: BROKER_VERSION, limits: this.deps.callLimits, maxInFlight: this.deps.config.broker.maxInFlightPerSession, clientAnswerTimeoutMs: this.deps.config.broker.clientAnswerTimeoutSeconds * 1000, pinning: this.pinning, resultFloorBytes: this.resultFloorBytes, tracer: this.deps.tracer, ...(brokerTool ? { requestAccess: this.requestAccess } : {}) };
    const session = new SessionCore(channel, legs, principal, deps, federated);
    this.sessions.add(session);
    this.processes += processes;
    this.sessionProcesses.set(session, processes);
    // The session must not outlive the token or sign-in that opened it (revoked, signed out, expired).
    const { kind } = principal.credential;
    const unwatch = this.deps.credentialWatch.watch(principal, (why) =>
      void session.end(CLOSE.credentialEnded, describeCredentialEnd(kind, why), { code: ACCESS_DENIED, reason: why === 'expired' ? 'credential_expired' : 'credential_revoked' }),
    );
    session.onlegdropped = (server) => {
      const freed = processesOf(this.deps.config.servers.filter((s) => s.name === server));
      this.processes -= freed;
      this.sessionProcesses.set(session, (this.sessionProcesses.get(session) ?? 0) - freed);
    };
    session.onended = () => {
      this.sessions.delete(session);
      this.processes -= this.sessionProcesses.get(session) ?? 0;
      this.sessionProcesses.delete(session);
      lease.release();
      unwatch();
    };
    // The grants were read at admission, before this session could hear of a revocation:
    // one revoked meanwhile (its fan-out reached only the sessions already here) must not
    // ride along until the next revalidation, so they are read again now that it hears.
    session.start(client, () => session.revalidate(this.confirmationOf(session))).catch((error: unknown) => {
      logger.warn({ err: error }, 'MCP session failed to start');
      // A start the core could not audit has already ended it with that cause (end is idempotent).
      void session.end(CLOSE.upstreamFailed, 'upstream failed to start', { code: INTERNAL_ERROR, reason: 'upstream_failed' });
    });
    return session;
  }

  /** Live sessions on this instance (the sessions gauge). */
  get size(): number {
    return this.sessions.size;
  }

  /** Ends every session with 1001 (in-flight requests answered) and stops admitting. */
  async close(): Promise<void> {
    this.closing = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.pinning.close();
    clearInterval(this.timer);
    await Promise.all([...this.sessions].map((s) => s.end(CLOSE.goingAway, 'broker shutting down', { code: ACCESS_DENIED, reason: 'broker_shutting_down' })));
    await Promise.all([this.agents.http.destroy(), this.agents.https.destroy()]);
  }

  /**
   * A grant was issued somewhere (the event is a hint: the grant is read from the store):
   * the person's live sessions here take it at once.
   */
  private async grantIssued(userId: string, grantId: string): Promise<void> {
    const sessions = [...this.sessions].filter((s) => s.principal.user.id === userId && !s.hasGrant(grantId));
    if (sessions.length === 0) return;
    const grant = await this.deps.stores.access.getGrant(grantId).catch((error: unknown) => void this.deps.logger.warn({ err: error, grantId }, 'could not read an issued grant: live sessions take it at their next connection'));
    if (!grant || grant.user.id !== userId || grantStatus(grant, this.deps.clock.now()) !== 'ACTIVE') return;
    const server = this.deps.config.servers.find((s) => s.name === grant.server);
    if (!server) return;
    // Its revocation may go by during the read, or while an earlier session takes it in.
    const ended = () => this.endedGrants.has(grantId);
    for (const session of sessions) if (!ended()) await session.grantIssued(grant, () => this.join(session, server, grant), ended);
  }

  /** A server joining a live federated session, within this instance's process cap (null past it). */
  private join(session: SessionCore, server: McpServerConfig, grant: GrantRecord): LegSpec | null {
    const added = processesOf([server]);
    if (this.processes + added > this.deps.config.broker.maxUpstreamProcesses) {
      this.deps.logger.warn({ sessionId: session.id, server: server.name }, 'a grant arrived but this instance is at broker.maxUpstreamProcesses: the server joins at the next connection');
      return null;
    }
    this.processes += added;
    this.sessionProcesses.set(session, (this.sessionProcesses.get(session) ?? 0) + added);
    return this.legSpec(server, [grant]);
  }

  private legSpec(server: McpServerConfig, grants: readonly GrantRecord[]): LegSpec {
    const { logger, baseDir, scrubber } = this.deps;
    return {
      server: server.name,
      upstream: createUpstream(server, { baseDir, logger, scrubber, agents: this.agents }),
      grants: new GrantSet(grants.filter((g) => g.server === server.name)),
      allowMethods: server.allowMethods,
      readOnlyTools: server.readOnlyTools,
    };
  }

  private async activeGrants(principal: Principal, servers: ReadonlySet<string>): Promise<GrantRecord[]> {
    const now = this.deps.clock.now();
    const listed = await this.deps.stores.access.listGrants({ userId: principal.user.id, limit: 100 });
    return listed.map((l) => l.record).filter((g) => servers.has(g.server) && grantStatus(g, now) === 'ACTIVE');
  }

  /**
   * The backstop for what pub/sub dropped: every session's grants read again. One walk at a
   * time, so a stalled store cannot pile walks up; each grant read once per walk however
   * many sessions share it, and a few sessions at a time, so a walk over thousands of
   * sessions takes a few round trips per grant, not one per session in a row.
   */
  private async revalidate(): Promise<void> {
    if (this.walking) return;
    this.walking = true;
    try {
      const reads = new Map<string, Promise<GrantRecord | null>>();
      const grant = (id: string) => reads.get(id) ?? reads.set(id, this.deps.stores.access.getGrant(id)).get(id)!;
      const sessions = [...this.sessions];
      let next = 0;
      const walker = async () => {
        for (let session = sessions[next++]; session; session = sessions[next++]) await session.revalidate(this.confirmationOf(session, grant));
      };
      await Promise.all(Array.from({ length: Math.min(REVALIDATION_WALKERS, sessions.length) }, walker));
    } finally {
      this.walking = false;
    }
  }

  private confirmationOf(session: SessionCore, grant: SessionConfirmation['grant'] = (id) => this.deps.stores.access.getGrant(id)): SessionConfirmation {
    return { grant, credential: () => this.deps.credentialWatch.confirm(session.principal) };
  }
}
