import { sameEmail } from '../identity/email-key.js';
import type { ScimStore, ScimUserRecord, UserIdentity } from '../stores/types.js';

/**
 * Whether a SCIM user is this Portcullis user: same IdP, and the SCIM userName equals the
 * user's NameID or email, whatever the case of its ASCII letters (IdPs send the sign-in
 * name as userName: Okta its username, usually the email; Entra ID the UPN, also the usual
 * NameID). Folded as emails are (email-key.ts), as the SCIM stores index names: Unicode
 * case folding would make `\u212Aate@corp.com` Kate, with her SCIM groups.
 */
export function isScimUser(user: Pick<UserIdentity, 'idp' | 'nameId' | 'email'>, idp: string, userName: string): boolean {
  return user.idp === idp && (sameEmail(user.nameId, userName) || sameEmail(user.email, userName));
}

/**
 * What SCIM says of a Portcullis user, read where credentials are checked: a
 * deprovisioned user is nobody, whatever credential they hold (so a revocation that was
 * missed still fails closed), and a user whose groups SCIM manages counts with those.
 * One store read, and none for an IdP without SCIM.
 */
export class ScimStanding {
  constructor(private readonly deps: { store: ScimStore; idps: ReadonlySet<string> }) {}

  /** The SCIM user behind a Portcullis user, when its IdP provisions over SCIM and has provisioned them. */
  recordOf(user: UserIdentity): Promise<ScimUserRecord | null> {
    if (!this.deps.idps.has(user.idp)) return Promise.resolve(null);
    return this.deps.store.users.find(user.idp, [user.nameId, user.email]);
  }

  /**
   * The user a credential issued at `issuedAt` stands for now: null when SCIM deactivated
   * or deleted them, or did since the credential was issued (reactivation restores
   * nothing); with the SCIM groups in place of the assertion's once SCIM manages them.
   */
  async current(user: UserIdentity, issuedAt: number): Promise<UserIdentity | null> {
    const record = await this.recordOf(user);
    if (!record) return user;
    if (!record.active || issuedAt <= record.revokedBefore) return null;
    return record.groups === null ? user : { ...user, groups: record.groups };
  }

  /**
   * At sign-in: false for a deprovisioned user. Remembers who signed in under which names,
   * so deprovisioning finds their tokens (kept by Portcullis user id).
   */
  async admitsSignIn(user: UserIdentity): Promise<boolean> {
    if (!this.deps.idps.has(user.idp)) return true;
    const record = await this.recordOf(user);
    if (record && !record.active) return false;
    await this.deps.store.sighted(user.idp, [user.nameId, user.email], user.id);
    return true;
  }
}
