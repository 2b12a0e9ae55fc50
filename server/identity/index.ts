import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { SessionCookie } from '../http/session-cookie.js';
import type { TrustedIdp } from './trusted-idps.js';
import type { Stores } from '../stores/types.js';
import { ApiTokenService } from './api-tokens.js';
import { Authenticator } from './authenticate.js';
import { CliLoginService } from './cli-login.js';
import { CredentialEvents } from './credential-events.js';
import { LoginSessionService } from './login-sessions.js';
import { Principals } from './principal.js';
import { McpResources } from '../oauth/resources.js';
import { OAuthTokens } from '../oauth/tokens.js';
import { McpRequestAuthenticator } from '../oauth/mcp-authenticate.js';
import { ScimStanding } from '../scim/standing.js';

export interface Identity {
  cookie: SessionCookie;
  sessions: LoginSessionService;
  tokens: ApiTokenService;
  authenticator: Authenticator;
  cliLogin: CliLoginService;
  /** Revoked tokens and ended sessions, across instances. */
  credentialEvents: CredentialEvents;
  /** The MCP endpoints, as OAuth protected resources. */
  resources: McpResources;
  /** OAuth codes and tokens (server/oauth): issued by the authorization server, presented at MCP endpoints. */
  oauthTokens: OAuthTokens;
  /** Who calls an MCP HTTP endpoint: an OAuth access token for that resource, or an API token with `mcp`. */
  mcpAuthenticator: McpRequestAuthenticator;
  /** What SCIM says of users (deprovisioned, their groups), checked wherever credentials are. */
  standing: ScimStanding;
  /** A stored user as they stand now (IdP, email domain, SCIM), and their roles. */
  principals: Principals;
}

/** The identity services, wired to their stores, the audit log, the clock and the IdPs this instance trusts. */
export function createIdentity(config: PortcullisConfig, stores: Stores, clock: Clock, idps: readonly TrustedIdp[]): Identity {
  const cookie = new SessionCookie(config.server.publicUrl);
  const credentialEvents = new CredentialEvents(stores.events);
  const standing = new ScimStanding({ store: stores.scim, idps: new Set(config.identityProviders.flatMap((idp) => (idp.scim ? [idp.id] : []))) });
  const principals = new Principals({ idps, roles: config.roles, standing });
  const sessions = new LoginSessionService({ sessions: stores.sessions, audit: stores.audit, clock, principals, ttlSeconds: config.session.ttlSeconds, events: credentialEvents });
  const tokens = new ApiTokenService({ tokens: stores.tokens, audit: stores.audit, clock, principals, maxTtlSeconds: config.apiTokens.maxTtlSeconds, events: credentialEvents });
  const resources = new McpResources(config.server.publicUrl, config.servers);
  const oauthTokens = new OAuthTokens({ store: stores.oauth, audit: stores.audit, clock, principals, events: credentialEvents, resources, config: config.oauth, signInIsLive: (id) => sessions.isLive(id) });
  return {
    cookie,
    sessions,
    tokens,
    authenticator: new Authenticator({ sessions, tokens, oauthTokens, cookie, publicUrl: config.server.publicUrl }),
    cliLogin: new CliLoginService({ codes: stores.cliLoginCodes, sessions, tokens, clock }),
    credentialEvents,
    resources,
    oauthTokens,
    mcpAuthenticator: new McpRequestAuthenticator({ oauth: oauthTokens, apiTokens: tokens, resources }),
    standing,
    principals,
  };
}
