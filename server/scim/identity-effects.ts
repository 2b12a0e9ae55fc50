import type { AccessPolicy } from '../access/access-policy.js';
import type { AccessService } from '../access/access-service.js';
import type { AccessRequestRecord, GrantRecord } from '../access/types.js';
import type { Clock } from '../clock.js';
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
      clock: Clock;
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
   * groups as they now are, if no role they hold has a rule that would allow all of it for
   * the time it has left, the grant has lost its basis and is revoked; a grant still covered
   * stays. A pending request no role of theirs would allow any more is cancelled (it could
   * not be approved). Their live GraphQL subscriptions, authorized under the old roles, close.
   */
  async groupsChanged(users: readonly ScimUserRecord[]): Promise<void> {
    const active = users.filter(groupsManaged);
    for (const user of active) this.deps.events.userChanged({ idp: user.idp, userName: user.userName, change: 'regrouped' });
    if (active.length === 0) return;
    const scimOf = (user: GrantRecord['user']) => active.find((u) => isScimUser(user, u.idp, u.userName));
    for (const grant of await this.deps.access.activeGrantsWhere((g) => scimOf(g.user) !== undefined)) await this.judgeGrant(grant, scimOf(grant.user)!);
    for (const request of await this.deps.access.pendingRequestsWhere((r) => scimOf(r.requester) !== undefined)) await this.judgeRequest(request, scimOf(request.requester)!);
  }

  /**
   * Every active grant and pending request of the IdP's users, judged as groupsChanged
   * judges them: its holder found as credentials find them (server/scim/standing.ts). No
   * live connection is told: no group changed in this request, and one that did told them
   * before its effects failed.
   */
  async groupsUnchanged(idp: string): Promise<void> {
    // One lookup per person, not per grant or request: an IdP resends unchanged group writes routinely.
    const found = new Map<string, Promise<ScimUserRecord | null>>();
    const scimOf = async (user: GrantRecord['user']) => {
      const key = `${user.nameId}\n${user.email}`;
      if (!found.has(key)) found.set(key, this.deps.store.users.find(idp, [user.nameId, user.email]));
      const scim = await found.get(key)!;
      return scim && groupsManaged(scim) ? scim : null;
    };
    for (const grant of await this.deps.access.activeGrantsWhere((g) => g.user.idp === idp)) {
      const scim = await scimOf(grant.user);
      if (scim) await this.judgeGrant(grant, scim);
    }
    for (const request of await this.deps.access.pendingRequestsWhere((r) => r.requester.idp === idp)) {
      const scim = await scimOf(request.requester);
      if (scim) await this.judgeRequest(request, scim);
    }
  }

  /** Revokes `grant` unless a role its holder has with `scim`'s groups has a rule that would allow all of it for the time it has left. */
  private async judgeGrant(grant: GrantRecord, scim: ScimUserRecord & { groups: string[] }): Promise<void> {
    const roles = rolesOf({ ...grant.user, groups: scim.groups }, this.deps.roles);
    const secondsLeft = Math.max(0, Math.ceil((grant.expiresAt - this.deps.clock.now()) / 1000));
    if (this.deps.policy.founds({ roles }, grant, secondsLeft)) return;
    await endedMeanwhile(this.deps.access.revokeForIdentityChange(grant.id, BASIS_REMOVED, { scimClient: scim.idp, scimUserId: scim.id, roles }));
  }

  /** Cancels `request` unless a role its requester has with `scim`'s groups has a rule that would allow all of it. */
  private async judgeRequest(request: AccessRequestRecord, scim: ScimUserRecord & { groups: string[] }): Promise<void> {
    const roles = rolesOf({ ...request.requester, groups: scim.groups }, this.deps.roles);
    if (this.deps.policy.founds({ roles }, request, request.durationSeconds)) return;
    await this.deps.access.cancelForIdentityChange(request.id, BASIS_REMOVED, { scimClient: scim.idp, scimUserId: scim.id, roles });
  }
}

/** An active user whose groups SCIM manages (an inactive one's grants are deprovisioning's to end). */
function groupsManaged(user: ScimUserRecord): user is ScimUserRecord & { groups: string[] } {
  return user.active && user.groups !== null;
}

/** A grant that ended between the walk and its revocation needs nothing more. */
async function endedMeanwhile(revocation: Promise<unknown>): Promise<void> {
  await revocation.catch((error: unknown) => {
    if (!(error instanceof PortcullisError && error.code === 'GRANT_NOT_ACTIVE')) throw error;
  });
}
