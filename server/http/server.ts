import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Broker, MCP_WS_FEDERATED, MCP_WS_PREFIX } from '../../broker/broker.js';
import { ToolCatalog } from '../../broker/tool-catalog.js';
import { configuredModes, ToolPinning } from '../../broker/tool-pinning.js';
import { startApollo } from '../../schema/apollo.js';
import { buildPortcullisSchema } from '../../schema/build-schema.js';
import { createPubSub } from '@graphql-yoga/subscription';
import type { PubSubEventTarget } from '@graphql-yoga/subscription';
import type { GraphQLServices, PortcullisPubSub, PortcullisTopics } from '../../schema/context.js';
import { AccessEvents } from '../access/access-events.js';
import { AccessExplainer } from '../access/access-explainer.js';
import { ToolChangeService } from '../access/tool-change-service.js';
import { AccessPolicy } from '../access/access-policy.js';
import { AccessService } from '../access/access-service.js';
import { AuditService } from '../audit/audit-service.js';
import { AnomalyService } from '../detection/anomaly-service.js';
import { defaultMaxGapSeconds } from '../audit/checkpoints.js';
import { AuditKeyRing, publicKeyPemOf } from '../audit/seal.js';
import { startRetention } from '../audit/retention.js';
import { startCheckpoints } from '../audit/checkpoint-schedule.js';
import { startExpirySweeper } from '../access/expiry-sweeper.js';
import { createProtection } from '../../schema/limits.js';
import { createGraphQLWebSocketEndpoint } from '../../schema/subscriptions.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { createDevIdp } from '../dev-idp/dev-idp.js';
import type { Detector } from '../detection/detector.js';
import { startOutlierDetection } from '../detection/outlier-detection.js';
import { CredentialWatch } from '../identity/credential-watch.js';
import { FreshDeciders } from '../identity/fresh-decider.js';
import { createIdentity } from '../identity/index.js';
import { SignInRecorder } from '../identity/sign-in-identity.js';
import { trustedIdps } from '../identity/trusted-idps.js';
import type { TrustedIdp } from '../identity/trusted-idps.js';
import type { Identity } from '../identity/index.js';
import { OAuthAuthorization } from '../oauth/authorization.js';
import { OAuthClients } from '../oauth/clients.js';
import { oauthRoutes } from './oauth-routes.js';
import { ConfiguredCallLimits } from '../limits/call-limits.js';
import { LeaseKeeper } from '../limits/lease-keeper.js';
import type { Logger } from '../log.js';
import { createMetrics, registerLiveGauges } from '../metrics.js';
import { liveReadings } from '../live-readings.js';
import { ObservedAuditLog } from '../audit/observed-audit-log.js';
import { startTracing } from '../tracing/tracing.js';
import { traceRedisCommands } from '../tracing/redis-spans.js';
import { fromConfig } from '../saml/identity-providers.js';
import type { IdentityProvider } from '../saml/identity-providers.js';
import { IdpTrustService } from '../saml/idp-trust.js';
import { KeyRotationRecorder } from '../saml/key-rotation.js';
import { StoredMetadataCopies } from '../saml/metadata-copies.js';
import { samlRoutes } from '../saml/routes.js';
import { singleLogoutRoutes } from '../saml/single-logout.js';
import { ServiceProviderKeys } from '../saml/sp-keys.js';
import { OidcSignIn } from '../oidc/oidc-sign-in.js';
import { OidcProvider } from '../oidc/provider.js';
import { oidcRoutes } from '../oidc/routes.js';
import { SamlSignIn } from '../saml/saml-sign-in.js';
import { CursorSeal } from '../stores/sealed-cursor.js';
import type { Stores } from '../stores/types.js';
import type { SecretScrubber } from '../text/secret-scrubber.js';
import { createApp, securityHeaders } from './app.js';
import { behindClosingAnswer } from './closing-connections.js';
import { directMcpRequests } from './direct-mcp.js';
import { limitOperationsPerClient, limitUpgradesPerClient } from './rate-limit.js';
import { clientAddressOf } from './client-address.js';
import { cliLoginRoutes } from './cli-login-routes.js';
import { consoleRoutes } from './console-routes.js';
import { createUpgradeRouter, upgradeTo } from './upgrade-router.js';
import { createScim } from '../scim/index.js';
import { startNotifications } from '../notifications/start.js';
import { unexportedEvents } from '../export/unexported.js';
import { startConfiguredAuditExport } from '../export/start.js';
import type { AuditExporter, ExporterTiming } from '../export/exporter.js';
import { NotificationService } from '../notifications/notification-service.js';
import { SlackActions } from '../notifications/slack-actions.js';
import type { DecidingSlackSink } from '../notifications/slack-actions.js';
import { slackActionRoutes } from '../notifications/slack-action-routes.js';
import type { Metrics } from '../metrics.js';
import type { Dispatcher, DispatcherTiming } from '../notifications/dispatcher.js';

export interface PortcullisServer {
  readonly httpServer: Server;
  /** Listens on the configured host and port (port 0 picks a free one). */
  listen(): Promise<AddressInfo>;
  /** Graceful stop: refuse new work, close WebSockets with 1001, drain HTTP. */
  close(): Promise<void>;
  /** The outlier detector (null when `detection.enabled` is off): its stats are what the detection bench reads. */
  readonly detector: Detector | null;
  /** The notification dispatcher (null when no sink is configured). */
  readonly notifications: Dispatcher | null;
  /** The audit exporter (null when `audit.export.sinks` is empty). */
  readonly auditExport: AuditExporter | null;
}

export interface ServerDependencies {
  config: PortcullisConfig;
  stores: Stores;
  logger: Logger;
  /** The scrubber the logger was made with (log.ts logScrubber): upstreams' stderr uses it too. */
  scrubber: SecretScrubber;
  clock: Clock;
  /** The config file's directory: relative paths in it (stdio upstreams' cwd) start here. */
  baseDir: string;
  /** Notification dispatcher timing (tests shorten its polls and retries). */
  notificationTiming?: Partial<DispatcherTiming>;
  /** Audit export timing (tests shorten its lease and backoff). */
  exportTiming?: Partial<ExporterTiming>;
}

/** One HTTP server: express for HTTP, and WebSocket upgrades routed by path on the same port. */
export async function createPortcullisServer(deps: ServerDependencies): Promise<PortcullisServer> {
  const { config, logger, scrubber, clock, baseDir } = deps;
  const metrics = createMetrics();
  const tracing = startTracing(config.observability.tracing, logger);
  const stopRedisSpans = tracing.tracer ? traceRedisCommands(tracing.tracer) : () => {};
  // Every append of this broker is timed and counted, and (tracing on) spanned with its trace id in the event.
  const stores: Stores = { ...deps.stores, audit: new ObservedAuditLog(deps.stores.audit, tracing.tracer, metrics) };
  const publicUrl = config.server.publicUrl;
  const samlIdps: IdentityProvider[] = config.identityProviders.flatMap((idp) => (idp.type === 'saml' ? [fromConfig(idp)] : []));
  const devIdp = await startDevIdp(config, logger);
  if (devIdp) samlIdps.push(devIdp.identityProvider);
  // Every IdP, whatever its protocol: sign-in pages, CLI login, roles' members.idps, credentials' domains.
  const dev = devIdp?.identityProvider;
  const identityProviders: TrustedIdp[] = trustedIdps(config, dev ? [{ id: dev.id, displayName: dev.displayName, protocol: 'saml', emailDomains: dev.emailDomains }] : []);
  const identity = createIdentity(config, stores, clock, identityProviders);
  const signIn = new SamlSignIn({ replay: stores.assertionReplay, audit: stores.audit, clock, sessions: identity.sessions, standing: identity.standing, directory: stores.directory });
  const spKeys = ServiceProviderKeys.fromConfig(config);
  const rotations = new KeyRotationRecorder({ store: stores.samlKeySets, audit: stores.audit, clock });
  await rotations.spKeys(spKeys.all.map((k) => k.fingerprint));
  const idpTrust = new IdpTrustService({ idps: samlIdps, rotations, stored: new StoredMetadataCopies({ store: stores.samlKeySets, clock }), clock, logger, metrics });
  await idpTrust.start();
  const idps = new Map(samlIdps.map((idp) => [idp.id, idp]));
  const saml = samlRoutes({
    idps,
    trust: idpTrust,
    spKeys,
    signIn,
    requestIds: stores.samlRequests,
    cookie: identity.cookie,
    clock,
    publicUrl,
    logger,
  });
  const signOut = singleLogoutRoutes({
    idps,
    trust: idpTrust,
    spKeys,
    sessions: identity.sessions,
    endDerived: (session) => identity.oauthTokens.endSignIn(session),
    requestIds: stores.samlRequests,
    replay: stores.assertionReplay,
    audit: stores.audit,
    cookie: identity.cookie,
    clock,
    publicUrl,
    logger,
  });

  const oidc = createOidcRoutes(config, stores, clock, identity, logger);

  const cliLogin = cliLoginRoutes({
    idps: identityProviders,
    publicUrl,
    authenticator: identity.authenticator,
    cliLogin: identity.cliLogin,
    logger,
  });

  const oauth = config.oauth.enabled ? createOAuthRoutes(config, stores, clock, identity, identityProviders, logger) : null;

  const policy = new AccessPolicy(config);
  const events = new AccessEvents(stores.events);
  // The broker's own look at the servers' tools: read-only grants fix which tools are read-only when issued.
  const catalogPinning = new ToolPinning({ store: stores.toolPins, audit: stores.audit, clock, logger, events, mode: configuredModes(config.servers), onPinsChanged: () => {} });
  const catalogViewer = { actor: 'portcullis-catalog', sessionId: 'tool-catalog' };
  const toolCatalog = new ToolCatalog({ servers: config.servers, baseDir, logger, scrubber, now: () => clock.now(), screen: (server, tools) => catalogPinning.screen(server, tools, new Map(), catalogViewer) });
  const cursors = new CursorSeal(stores.cursorKeys, clock);
  const deciders = new FreshDeciders({ directory: stores.directory, principals: identity.principals, clock, maxAgeSeconds: config.session.ttlSeconds });
  const access = new AccessService({ store: stores.access, audit: stores.audit, clock, policy, events, config, readOnlyTools: (server) => toolCatalog.readOnlyTools(server), principals: identity.principals, cursors, deciders });
  const detector = startOutlierDetection({ config, stores, clock, logger, events, access, metrics });
  const pubSub: PortcullisPubSub = createPubSub({ eventTarget: stores.events as PubSubEventTarget<PortcullisTopics> });
  const stopSweeper = startExpirySweeper(access, logger);
  // Off the request path: it follows the audit log, so an access decision never waits on a sink.
  const notifications = startNotifications({ config, stores, policy, principals: identity.principals, clock, logger, metrics, ...(deps.notificationTiming ? { timing: deps.notificationTiming } : {}) });
  const auditExport = startConfiguredAuditExport({ config, stores, clock, logger, metrics, baseDir, ...(deps.exportTiming ? { timing: deps.exportTiming } : {}) });
  const sinks = config.audit.export.sinks.map((sink) => sink.name);
  const unexported = () => unexportedEvents({ sinks, cursors: stores.exportCursors, audit: stores.audit, clock, logger });
  const stopRetention = config.audit.retention ? startRetention(stores.audit, config.audit.retention, clock, logger, unexported) : () => {};
  const stopCheckpoints = config.audit.checkpoints ? startCheckpoints(stores.audit, config.audit.checkpoints.intervalSeconds, logger) : async () => {};
  const { checkpoints } = config.audit;
  // Verified on request with the key this broker seals checkpoints with (its public half), like `audit verify --public-key`.
  const auditService = new AuditService(
    stores.audit,
    policy,
    {
      keys: checkpoints && new AuditKeyRing([publicKeyPemOf(checkpoints.privateKey)]),
      maxGapMs: defaultMaxGapSeconds(checkpoints?.intervalSeconds) * 1000,
      clock,
    },
    cursors,
  );
  const explainer = new AccessExplainer({ store: stores.access, policy, clock, config });
  const toolChanges = new ToolChangeService({ store: stores.toolPins, policy, audit: stores.audit, events, deciders });
  const anomalies = new AnomalyService({ store: stores.anomalies, audit: stores.audit, auditService, clock, deciders });
  const notificationService = new NotificationService({ store: stores.notifications, audit: stores.audit, auditService, clock, sinks: config.notifications.sinks.map((sink) => sink.name), wake: () => notifications?.wake() });
  const services: GraphQLServices = { config, stores, clock, logger, identity, identityProviders, access, explainer, auditService, policy, pubSub, toolCatalog, toolChanges, anomalies, notifications: notificationService };
  const schema = await buildPortcullisSchema(pubSub);
  const protection = createProtection(schema, config.graphql);
  let shuttingDown = false;

  const httpServer = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 });
  const apollo = await startApollo({ schema, httpServer, protection, introspection: config.graphql.introspection, maxTokens: config.graphql.maxTokens, logger, traced: tracing.tracer !== null });
  const recheckIntervalMs = config.broker.revalidateIntervalSeconds * 1000;
  const credentialWatch = new CredentialWatch({ events: identity.credentialEvents, isLive: (c) => identity.authenticator.isLive(c), clock, recheckIntervalMs });
  // Leases lapse after three missed renewals: a dead instance frees its users' places soon.
  const leases = new LeaseKeeper({ leases: stores.leases, clock, ttlMs: 3 * recheckIntervalMs, onRenewFailed: (err) => logger.warn({ err }, 'lease renewal failed') });
  // The address every upgrade is known by (rate limits, audit), as express gives other requests theirs.
  const addressOf = clientAddressOf(config.server.trustedProxies);
  const graphqlLimiter = stores.rateLimits.limiter('graphql', config.rateLimits.graphql);
  const budget = limitOperationsPerClient(graphqlLimiter, logger, clock);
  const graphqlWs = createGraphQLWebSocketEndpoint({ schema, protection, services, credentialWatch, leases, addressOf, tracer: tracing.tracer, budget });
  const callLimits = new ConfiguredCallLimits(config.servers, { rateLimits: stores.rateLimits, leases, logger });
  const broker = new Broker({ config, stores, identity, events, clock, logger, scrubber, baseDir, credentialWatch, leases, callLimits, access, addressOf, tracer: tracing.tracer });
  const scim = createScim({ config, stores, clock, identity, access, policy, logger });
  const slack = createSlackActionRoutes(config, stores, clock, identity, access, logger, metrics);
  const app = createApp({
    apollo,
    services,
    // The MCP door first: over Streamable HTTP every relayed call is a request, and express walks each router before it (its own paths, /mcp and /mcp/<server>, are no other router's).
    routers: [broker.http, saml, signOut, oidc, cliLogin, ...(oauth ? [oauth] : []), ...(devIdp ? [devIdp.router] : []), consoleRoutes({ authenticator: identity.authenticator, identityProviders, logger }), ...(scim ? [scim] : []), ...(slack ? [slack] : [])],
    stores,
    graphqlLimiter,
    metrics,
    tracer: tracing.tracer,
    logger,
    isShuttingDown: () => shuttingDown,
  });
  registerLiveGauges(metrics, liveReadings(stores, { sessions: () => broker.sessionCount, notificationSinks: config.notifications.sinks.length }));

  // Streamable HTTP's MCP requests below express, unless HTTP tracing (express middleware) is on.
  const direct = tracing.tracer ? null : directMcpRequests({ serve: broker.serveHttp, securityHeaders: securityHeaders(config.server.publicUrl), addressOf, metrics, logger });
  const serve = direct ? (req: IncomingMessage, res: ServerResponse) => direct(req, res) || app(req, res) : app;
  // Nothing pipelined behind an answer that closes the connection is served (an upgrade is
  // refused by the router): node:http closes the connection once that answer is sent.
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => void (behindClosingAnswer(req.socket) || serve(req, res)));
  httpServer.on(
    'upgrade',
    createUpgradeRouter(
      {
        '/graphql': limitUpgradesPerClient(graphqlLimiter, logger, clock, addressOf, upgradeTo(graphqlWs.wss, (request) => identity.authenticator.presented(request.headers))),
        [MCP_WS_FEDERATED]: broker.upgrade,
      },
      { [MCP_WS_PREFIX]: broker.upgrade },
      () => shuttingDown,
    ),
  );

  return {
    httpServer,
    detector,
    notifications,
    auditExport,
    listen: () =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.server.port, config.server.host, () => {
          httpServer.off('error', reject);
          resolve(httpServer.address() as AddressInfo);
        });
      }),
    close: async () => {
      shuttingDown = true;
      idpTrust.close();
      await stopSweeper();
      stopRetention();
      await broker.close();
      await toolCatalog.close();
      catalogPinning.close();
      await graphqlWs.close();
      credentialWatch.close();
      leases.close();
      // Stops the HTTP server too (drain plugin): in-flight requests finish, idle sockets close.
      await apollo.stop();
      // Commits where it got to (the next instance goes on from there); before the checkpoint, which then seals the anomalies it raised.
      await detector?.stop();
      await notifications?.stop();
      // Before the shutdown checkpoint, which the next holder of each sink's lease exports.
      await auditExport?.stop();
      // Last, so the shutdown checkpoint seals everything the steps above audited.
      await stopCheckpoints();
      stopRedisSpans();
      // Exports what is still buffered (the shutdown's own spans included).
      await tracing.shutdown();
    },
  };
}

/** The authorization server's routes (`oauth.enabled`), over the identity services' token store. */
function createOAuthRoutes(config: PortcullisConfig, stores: Stores, clock: Clock, identity: Identity, idps: readonly TrustedIdp[], logger: Logger) {
  const issuer = config.server.publicUrl.replace(/\/+$/, '');
  const clients = new OAuthClients({ clients: stores.oauth.clients, keys: stores.cursorKeys, audit: stores.audit, clock, config: config.oauth });
  const authorization = new OAuthAuthorization({
    clients,
    tokens: identity.oauthTokens,
    consents: stores.oauth.consents,
    resources: identity.resources,
    audit: stores.audit,
    clock,
    issuer,
    config: config.oauth,
  });
  return oauthRoutes({ issuer, publicUrl: config.server.publicUrl, idps, resources: identity.resources, clients, authorization, tokens: identity.oauthTokens, authenticator: identity.authenticator, logger });
}

/** Decisions from Slack, when a Slack sink has a signing secret; null (the path is 404) otherwise. */
function createSlackActionRoutes(config: PortcullisConfig, stores: Stores, clock: Clock, identity: Identity, access: AccessService, logger: Logger, metrics: Metrics) {
  const sinks = config.notifications.sinks.flatMap((sink) => (sink.type === 'slack' && sink.signingSecret !== undefined && sink.botToken !== undefined && sink.teamId !== undefined ? [sink as DecidingSlackSink] : []));
  if (sinks.length === 0) return null;
  const actions = new SlackActions({
    sinks,
    replay: stores.assertionReplay,
    directory: stores.directory,
    principals: identity.principals,
    access,
    signInMaxAgeSeconds: config.session.ttlSeconds,
    clock,
    logger,
    onRefused: (reason) => metrics.slackActionRefusals.inc({ reason }),
  });
  return slackActionRoutes(actions, logger);
}

/** The OIDC IdPs' routes; each provider's discovery begins now, and a provider that is down makes only its own sign-ins unavailable. */
function createOidcRoutes(config: PortcullisConfig, stores: Stores, clock: Clock, identity: Identity, logger: Logger) {
  const providers = new Map(config.identityProviders.flatMap((idp) => (idp.type === 'oidc' ? [[idp.id, new OidcProvider(idp, { clock, logger })] as const] : [])));
  for (const provider of providers.values()) provider.warmUp();
  const signIn = new OidcSignIn({ pending: stores.oidcRequests, recorder: new SignInRecorder({ audit: stores.audit, sessions: identity.sessions, standing: identity.standing, directory: stores.directory, clock }), clock, publicUrl: config.server.publicUrl });
  return oidcRoutes({ providers, signIn, cookie: identity.cookie, publicUrl: config.server.publicUrl, logger });
}

/** Only when the config enables it, which it allows only on a loopback address (config/schema.ts). */
async function startDevIdp(config: PortcullisConfig, logger: Logger) {
  if (!config.devIdp?.enabled) return undefined;
  logger.warn('development IdP enabled: anyone who reaches this broker can sign in as a demo user');
  return createDevIdp({ publicUrl: config.server.publicUrl, users: config.devIdp.users });
}
