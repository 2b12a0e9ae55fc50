import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { AccessEvents } from '../server/access/access-events.js';
import type { AccessService } from '../server/access/access-service.js';
import { grantStatus } from '../server/access/types.js';
import type { GrantRecord } from '../server/access/types.js';
import type { Clock } from '../server/clock.js';
import type { McpServerConfig, PortcullisConfig } from '../server/config/schema.js';
import { ForbiddenError, LimitExceededError, PortcullisError } from '../server/errors.js';
import { refusalOf, refuseUpgrade, UpgradeRefused } from '../server/http/upgrade-router.js';
import { requireScope } from '../server/identity/api-tokens.js';
import { describeCredentialEnd } from '../server/identity/credential-watch.js';
import type { CredentialWatch } from '../server/identity/credential-watch.js';
import type { Identity } from '../server/identity/index.js';
import type { Principal } from '../server/identity/principal.js';
import type { Lease, LeaseKeeper } from '../server/limits/lease-keeper.js';
import type { Logger } from '../server/log.js';
import type { SecretScrubber } from '../server/text/secret-scrubber.js';
import type { Stores } from '../server/stores/types.js';
import { GrantSet } from './grant-set.js';
import { ACCESS_DENIED } from './jsonrpc.js';
import { ClientLink, CLOSE } from './client-link.js';
import type { CallLimits } from './core/call-limits.js';
import { SessionCore } from './core/session-core.js';
import type { LegSpec } from './core/session-core.js';
import { createHttpAgents } from './upstreams/streamable-http.js';
import { createUpstream } from './upstreams/upstream.js';

export const MCP_WS_PREFIX = '/mcp/ws/';
export const MCP_WS_FEDERATED = '/mcp/ws';
const SUBPROTOCOL = 'mcp';
/** Reported as serverInfo.version by the federated endpoint. */
const BROKER_VERSION = '0.1.0';
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
}

/** An upgrade that passed every check, with the place it holds under the user's cap. */
interface Admission {
  federated: boolean;
  servers: McpServerConfig[];
  principal: Principal;
  grants: GrantRecord[];
  lease: Lease;
}

/** Upstream processes a session over these servers starts (one per stdio server). */
function processesOf(servers: readonly McpServerConfig[]): number {
  return servers.filter((s) => s.transport === 'stdio').length;
}

/**
 * The MCP relay endpoints, `GET /mcp/ws/:server` and `GET /mcp/ws` (federated): refuses
 * before the upgrade (401 no or bad credential, 403 no active grant or no `mcp` scope, 404
 * unknown server, 429/503 past the caps), then runs one SessionCore per connection with
 * the WebSocket as its edge. Grants end on every instance through the access
 * events, at their expiresAt through timers, and through periodic re-validation against
 * the store (pub/sub can drop messages).
 */
export class Broker {
  private readonly sessions = new Set<SessionCore>();
  private readonly wss: WebSocketServer;
  private readonly alive = new WeakSet<WebSocket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: (() => void)[];
  private readonly agents = createHttpAgents();
  private closing = false;
  /** Stdio upstream processes of this instance's live sessions, in all and per session. */
  private processes = 0;
  private readonly sessionProcesses = new Map<SessionCore, number>();

  constructor(private readonly deps: BrokerDeps) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.broker.maxFrameBytes, handleProtocols: () => SUBPROTOCOL });
    this.unsubscribe = [
      deps.events.onGrantEnded((event) => {
        for (const session of this.sessions) {
          if (session.hasGrant(event.grantId)) session.grantEnded(event.grantId, event.status === 'REVOKED' ? 'grant_revoked' : 'grant_expired');
        }
      }),
      deps.events.onRequestChanged((request) => {
        if (request.grantId !== null) void this.grantIssued(request.requester.id, request.grantId);
      }),
    ];
    this.timers.push(every(deps.config.broker.pingIntervalSeconds * 1000, () => this.ping()));
    this.timers.push(every(deps.config.broker.revalidateIntervalSeconds * 1000, () => void this.revalidate()));
  }

  /** The upgrade handler for `/mcp/ws` (federated) and paths under `/mcp/ws/`. */
  readonly upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.admit(request).then(
      (admission) => {
        let opened = false;
        try {
          // Checked again after the awaits: a session opened now would miss the shutdown's sweep.
          if (this.closing) throw new UpgradeRefused(503, 'shutting down');
          this.checkInstanceCapacity(admission);
          this.wss.handleUpgrade(request, socket, head, (ws) => {
            opened = true;
            this.open(ws, request, admission);
          });
        } catch (error) {
          this.refuse(socket, error);
        } finally {
          // A peer gone during the checks never gets its session: its place goes back.
          if (!opened) admission.lease.release();
        }
      },
      (error: unknown) => this.refuse(socket, error),
    );
  };

  /** Ends every session with 1001 (in-flight requests answered) and stops accepting. */
  async close(): Promise<void> {
    this.closing = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.sessions].map((s) => s.end(CLOSE.goingAway, 'broker shutting down', { code: ACCESS_DENIED, reason: 'broker_shutting_down' })));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await Promise.all([this.agents.http.destroy(), this.agents.https.destroy()]);
  }

  /**
   * Who may open what: the single server named in the path, or for the federated path
   * every configured server the caller holds an active grant for; and a place under the
   * caller's session cap.
   */
  private async admit(request: IncomingMessage): Promise<Admission> {
    const target = request.url ?? '';
    const [path, query = ''] = target.split('?', 2) as [string, string?];
    if (CREDENTIAL_PARAMS.test(`?${query}`)) throw new UpgradeRefused(401, 'a credential in the URL is refused: send Authorization: Bearer', { error: 'invalid_request', description: 'credentials in the URL are refused' });
    const federated = path === MCP_WS_FEDERATED;
    const named = federated ? undefined : this.deps.config.servers.find((s) => s.name === path.slice(MCP_WS_PREFIX.length));
    if (!federated && !named) throw new UpgradeRefused(404, 'unknown MCP server');
    const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) throw new UpgradeRefused(400, 'the "mcp" WebSocket subprotocol is required');

    const { authenticator } = this.deps.identity;
    const credential = authenticator.presented(request.headers);
    if (credential === null) throw new UpgradeRefused(401, 'sign in first: no credential presented');
    const principal = (await authenticator.resolve(credential).catch((error: unknown) => {
      if (error instanceof PortcullisError && error.code === 'UNAUTHENTICATED') throw new UpgradeRefused(401, error.message, { error: 'invalid_token', description: error.message });
      throw error;
    }))!;
    requireScope(principal, 'mcp');
    const servers = named ? [named] : this.deps.config.servers;
    const grants = await this.activeGrants(principal, new Set(servers.map((s) => s.name)));
    if (grants.length === 0) throw new ForbiddenError(`no active grant for ${named?.name ?? 'any server'}`);
    const granted = named ? [named] : servers.filter((s) => grants.some((g) => g.server === s.name));
    const { maxSessionsPerUser } = this.deps.config.broker;
    const lease = await this.deps.leases.take(`mcp-sessions:${principal.user.id}`, maxSessionsPerUser);
    if (!lease) throw new LimitExceededError(`too many live MCP sessions for this user (broker.maxSessionsPerUser: ${maxSessionsPerUser})`);
    return { federated, servers: granted, principal, grants, lease };
  }

  /** Checked at once before the handshake, so racing upgrades cannot overshoot the instance caps. */
  private checkInstanceCapacity(admission: Admission): void {
    const { maxSessionsPerInstance, maxUpstreamProcesses } = this.deps.config.broker;
    if (this.sessions.size >= maxSessionsPerInstance) throw new UpgradeRefused(503, `this instance is at capacity (broker.maxSessionsPerInstance: ${maxSessionsPerInstance})`);
    if (this.processes + processesOf(admission.servers) > maxUpstreamProcesses) throw new UpgradeRefused(503, `this instance is at capacity (broker.maxUpstreamProcesses: ${maxUpstreamProcesses})`);
  }

  private refuse(socket: Duplex, error: unknown): void {
    const refusal = refusalOf(error);
    if (refusal.status >= 500 && !(error instanceof UpgradeRefused)) this.deps.logger.warn({ err: error }, 'MCP upgrade refused');
    refuseUpgrade(socket, refusal);
  }

  private async activeGrants(principal: Principal, servers: ReadonlySet<string>): Promise<GrantRecord[]> {
    const now = this.deps.clock.now();
    const listed = await this.deps.stores.access.listGrants({ userId: principal.user.id, limit: 100 });
    return listed.map((l) => l.record).filter((g) => servers.has(g.server) && grantStatus(g, now) === 'ACTIVE');
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
    for (const session of sessions) await session.grantIssued(grant, () => this.join(session, server, grant));
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
    };
  }

  private open(ws: WebSocket, request: IncomingMessage, admission: Admission): void {
    const { federated, servers, principal, grants, lease } = admission;
    const processes = processesOf(servers);
    const { logger, config } = this.deps;
    const legs = servers.map((server) => this.legSpec(server, grants));
    // The WebSocket is the edge; every decision is the core's.
    const channel = { send: (message: object) => link.send(message), close: (code: number, reason: string) => link.close(code, reason) };
    const session = new SessionCore(channel, legs, principal, { audit: this.deps.stores.audit, clock: this.deps.clock, logger, version: BROKER_VERSION, limits: this.deps.callLimits }, federated);
    const link = new ClientLink(ws, { frame: (text) => session.receive(text), gone: (code, reason) => void session.end(code, reason, null) }, config.broker.idleTimeoutSeconds * 1000);
    this.sessions.add(session);
    this.processes += processes;
    this.sessionProcesses.set(session, processes);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    // The session must not outlive the token or sign-in that opened it (revoked, signed out, expired).
    const { kind } = principal.credential;
    const unwatch = this.deps.credentialWatch.watch(principal.credential, (why) =>
      void session.end(CLOSE.credentialEnded, describeCredentialEnd(kind, why), { code: ACCESS_DENIED, reason: why === 'expired' ? 'credential_expired' : 'credential_revoked' }),
    );
    session.onended = () => {
      this.sessions.delete(session);
      this.processes -= this.sessionProcesses.get(session) ?? 0;
      this.sessionProcesses.delete(session);
      lease.release();
      unwatch();
    };
    session.start(request.socket.remoteAddress).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'MCP session failed to start');
      void session.end(CLOSE.upstreamFailed, 'upstream failed to start', null);
    });
  }

  /** A peer that did not answer the last ping is gone: cut it off. */
  private ping(): void {
    for (const ws of this.wss.clients) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }

  private async revalidate(): Promise<void> {
    for (const session of this.sessions) await session.revalidate((id) => this.deps.stores.access.getGrant(id));
  }
}

function every(ms: number, run: () => void): NodeJS.Timeout {
  const timer = setInterval(run, ms);
  timer.unref();
  return timer;
}
