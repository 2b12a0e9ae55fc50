import type { RoleConfig } from '../config/schema.js';
import type { IdentityProvider } from '../saml/identity-providers.js';
import type { ScimStanding } from '../scim/standing.js';
import type { ApiTokenScope, UserIdentity } from '../stores/types.js';
import { emailAllowed } from './email-domains.js';
import { sameEmail } from './email-key.js';

export const API_TOKEN_SCOPES = ['api', 'mcp', 'audit:read'] as const satisfies readonly ApiTokenScope[];

/** Who is calling, and through which credential. */
export interface Principal {
  user: UserIdentity;
  /** Role names from `roles[].members`, computed at each request so config changes apply. */
  roles: string[];
  /** A browser session holds every scope; a token only those it was given. */
  scopes: ReadonlySet<ApiTokenScope>;
  /** The credential it came through, and when that credential ends (live connections close then). */
  credential: { kind: 'session' | 'token'; id: string; expiresAt: number } | OAuthCredential | IntegrationCredential;
  /** The client address of the request it was resolved from (audit `data.clientAddress`); absent when no request brought it. */
  address?: string;
}

/**
 * A person acting through a chat integration (a Slack button, server/notifications/slack-actions.ts),
 * matched by verified email for that one action. It is no credential a client holds: nothing
 * resolves it from a request, and wherever a live credential is checked it is not one.
 */
export interface IntegrationCredential {
  kind: 'integration';
  integration: 'slack';
  /** The Slack user id. */
  id: string;
  /** The Slack workspace (team) id. */
  team: string;
  /** The action's own moment: the principal lives for it only. */
  expiresAt: number;
}

/**
 * An OAuth authorization (server/oauth): the token family an access token belongs to, which
 * outlives each access token through refreshes, and the client it was issued to (audited
 * with every MCP event).
 */
export interface OAuthCredential {
  kind: 'oauth';
  /** The token family's id (never a token or its hash). */
  id: string;
  /** When the authorization ends (the refresh bound). */
  expiresAt: number;
  /** When the access token this principal came with expires. */
  tokenExpiresAt: number;
  client: { id: string; name: string };
}

/** The principal as a request from `address` brought it: what it does there is audited with the address. */
export function withAddress(principal: Principal, address: string | undefined): Principal {
  return address === undefined ? principal : { ...principal, address };
}

/** Until when the very token a principal came with is good (an OAuth access token's own expiry, else its credential's). */
export function tokenExpiry(principal: Principal): number {
  return principal.credential.kind === 'oauth' ? principal.credential.tokenExpiresAt : principal.credential.expiresAt;
}

/**
 * Roles are held by email or by group, and both are only as good as the IdP that asserted
 * them: with `members.idps`, only users signed in through those IdPs count (another IdP
 * can name any group it likes).
 */
export function rolesOf(user: UserIdentity, roles: readonly RoleConfig[]): string[] {
  return roles
    .filter(({ members }) => members.idps === undefined || members.idps.includes(user.idp))
    .filter(({ members }) => members.emails.some((e) => sameEmail(e, user.email)) || members.groups.some((g) => user.groups.includes(g)))
    .map((role) => role.name);
}

/**
 * Turns the user a session or token was issued to into a principal under the running
 * config. A credential outlives the sign-in that checked it, so the IdP rules are checked
 * again: a user whose IdP is gone, or whose address that IdP may no longer assert
 * (`emailDomains`), is nobody, rather than someone else's namesake.
 */
export class Principals {
  private readonly domains: ReadonlyMap<string, readonly string[] | undefined>;

  constructor(private readonly deps: { idps: readonly Pick<IdentityProvider, 'id' | 'emailDomains'>[]; roles: readonly RoleConfig[]; standing?: Pick<ScimStanding, 'current' | 'recordOf'> }) {
    this.domains = new Map(deps.idps.map((idp) => [idp.id, idp.emailDomains]));
  }

  /** `issuedAt`: when the credential was issued (a SCIM deactivation since then ends it for good). */
  async of(user: UserIdentity, scopes: ReadonlySet<ApiTokenScope>, credential: Principal['credential'], issuedAt: number): Promise<Principal | null> {
    const current = await this.current(user, issuedAt);
    return current && { user: current, roles: rolesOf(current, this.deps.roles), scopes, credential };
  }

  /** Whether SCIM manages the user's groups (then a credential's principal holds the current ones). */
  async groupsManaged(user: UserIdentity): Promise<boolean> {
    return ((await this.deps.standing?.recordOf(user))?.groups ?? null) !== null;
  }

  /**
   * The user a credential issued at `issuedAt` stands for now, or null: their IdP gone or
   * no longer allowed their address, or SCIM deprovisioned them (server/scim/standing.ts).
   */
  async current(user: UserIdentity, issuedAt: number): Promise<UserIdentity | null> {
    if (!this.domains.has(user.idp) || !emailAllowed(user.email, this.domains.get(user.idp))) return null;
    return this.deps.standing ? this.deps.standing.current(user, issuedAt) : user;
  }
}
