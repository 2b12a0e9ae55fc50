import type { AccessPolicy } from '../access/access-policy.js';
import type { AccessService } from '../access/access-service.js';
import type { RoleConfig } from '../config/schema.js';
import { PortcullisError } from '../errors.js';
import type { ApiTokenService } from '../identity/api-tokens.js';
import type { CredentialEvents } from '../identity/credential-events.js';
import type { LoginSessionService } from '../identity/login-sessions.js';
import { rolesOf } from '../identity/principal.js';
import type { OAuthTokens } from '../oauth/tokens.js';
import type { ScimStore, ScimUserRecord } from '../stores/types.js';
import type { ScimEffects } from './scim-service.js';
import { isScimUser } from './standing.js';

/** The grant.revoked reason when SCIM took away every role that could have granted it. */
export const BASIS_REMOVED = 'basis_removed';

/**
 * What a SCIM change does to a person's standing in Portcullis, on every instance:
 * deprovisioning (or a rename, for what the former name held) ends their live
 * connections (a bus event every instance acts on), ends their login sessions, revokes their API tokens, OAuth authorizations and active
 * grants, and cancels their pending requests; a group change revokes the grants whose
 * basis it removed.
 */
export class ScimIdentityEffects implements ScimEffects {
  constructor(
    private readonly deps: {
      store: ScimStore;
      events: CredentialEvents;
      sessions: Pick<LoginSessionService, 'endDeprovisioned'>;
      tokens: ApiTokenService;
      oauth: Pick<OAuthTokens, 'revokeAllOf'>;
      access: AccessService;
      policy: AccessPolicy;
      roles: readonly RoleConfig[];
    },
  ) {}

  async deprovisioned(user: ScimUserRecord, how: 'deactivated' | 'deleted' | 'renamed'): Promise<void> {
    const data = { scimClient: user.idp, scimUserId: user.id };
    const reason = `scim_user_${how}`;
    this.deps.events.userChanged({ idp: user.idp, userName: user.userName, change: 'deprovisioned' });
    for (const userId of await this.deps.store.sightings(user.idp, user.userName)) {
      await this.deps.sessions.endDeprovisioned(userId);
      await this.deps.tokens.revokeAllOf(userId, { reason, ...data });
      await this.deps.oauth.revokeAllOf(userId);
    }
    const whose = (identity: Parameters<typeof isScimUser>[0]) => isScimUser(identity, user.idp, user.userName);
    for (const grant of await this.deps.access.activeGrantsWhere((g) => whose(g.user))) await endedMeanwhile(this.deps.access.revokeForIdentityChange(grant.id, reason, data));
    for (const request of await this.deps.access.pendingRequestsWhere((r) => whose(r.requester))) await this.deps.access.cancelForIdentityChange(request.id, reason, data);
  }

  /**
   * A grant was approved under a request rule of a role its holder had. With their SCIM
   * groups as they now are, if no role they hold has a rule that would allow all of it,
   * the grant has lost its basis and is revoked; a grant still covered stays. Their live
   * GraphQL subscriptions, authorized under the old roles, close.
   */
  async groupsChanged(users: readonly ScimUserRecord[]): Promise<void> {
    const active = users.filter((u) => u.active && u.groups !== null);
    for (const user of active) this.deps.events.userChanged({ idp: user.idp, userName: user.userName, change: 'regrouped' });
    if (active.length === 0) return;
    const grants = await this.deps.access.activeGrantsWhere((g) => active.some((u) => isScimUser(g.user, u.idp, u.userName)));
    for (const grant of grants) {
      const scim = active.find((u) => isScimUser(grant.user, u.idp, u.userName))!;
      const roles = rolesOf({ ...grant.user, groups: scim.groups! }, this.deps.roles);
      if (this.deps.policy.founds({ roles }, grant)) continue;
      await endedMeanwhile(this.deps.access.revokeForIdentityChange(grant.id, BASIS_REMOVED, { scimClient: scim.idp, scimUserId: scim.id, roles }));
    }
  }
}

/** A grant that ended between the walk and its revocation needs nothing more. */
async function endedMeanwhile(revocation: Promise<unknown>): Promise<void> {
  await revocation.catch((error: unknown) => {
    if (!(error instanceof PortcullisError && error.code === 'GRANT_NOT_ACTIVE')) throw error;
  });
}
