import { clientAddressData } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { LoginSession, LoginSessionStore, SamlSessionFacts, UserIdentity } from '../stores/types.js';
import type { CredentialEvents } from './credential-events.js';
import { issueCredential, parseCredential, secretMatches } from './credentials.js';
import { API_TOKEN_SCOPES } from './principal.js';
import type { Principal, Principals } from './principal.js';

/** What `auth.logout` records of how a session ended: who began it, and the client address when a request did. */
type LogoutData = { initiatedBy: 'sp' | 'idp' | 'scim'; clientAddress?: string };

const SESSION_PREFIX = 'pcs';

/** Browser sign-in sessions: created by a successful SAML login, carried in a cookie. */
export class LoginSessionService {
  constructor(
    private readonly deps: { sessions: LoginSessionStore; audit: AuditLog; clock: Clock; principals: Principals; ttlSeconds: number; events: CredentialEvents },
  ) {}

  /** Starts a session for a user the IdP vouched for; returns the cookie value (shown once). */
  async start(user: UserIdentity, saml?: SamlSessionFacts): Promise<{ cookieValue: string; expiresAt: number }> {
    const credential = issueCredential(SESSION_PREFIX);
    const now = this.deps.clock.now();
    const expiresAt = now + this.deps.ttlSeconds * 1000;
    await this.deps.sessions.create({ id: credential.id, secretHash: credential.secretHash, user, createdAt: now, expiresAt, ...(saml ? { saml } : {}) });
    return { cookieValue: credential.value, expiresAt };
  }

  async resolve(cookieValue: string): Promise<Principal | null> {
    const parsed = parseCredential(SESSION_PREFIX, cookieValue);
    if (!parsed) return null;
    const session = await this.deps.sessions.get(parsed.id);
    if (!session || !secretMatches(parsed.secret, session.secretHash)) return null;
    return this.principalOf(session);
  }

  /** A live session by id (for a flow that proved the cookie earlier), with its end. */
  async find(sessionId: string): Promise<{ principal: Principal; expiresAt: number } | null> {
    const session = await this.deps.sessions.get(sessionId);
    const principal = session && (await this.principalOf(session));
    return principal ? { principal, expiresAt: session.expiresAt } : null;
  }

  private principalOf(session: LoginSession): Promise<Principal | null> {
    return this.deps.principals.of(session.user, new Set(API_TOKEN_SCOPES), { kind: 'session', id: session.id, expiresAt: session.expiresAt }, session.createdAt);
  }

  /** Is the session still there, and its user still someone? (Live connections re-check, since bus events can be lost.) */
  async isLive(sessionId: string): Promise<boolean> {
    const session = await this.deps.sessions.get(sessionId);
    return session !== null && (await this.deps.principals.current(session.user, session.createdAt)) !== null;
  }

  /**
   * Ends the session the cookie names (the person signed out here); the ended session, or
   * null when it was not live.
   */
  async end(cookieValue: string, client: string | undefined): Promise<LoginSession | null> {
    const parsed = parseCredential(SESSION_PREFIX, cookieValue);
    const session = parsed && (await this.deps.sessions.get(parsed.id));
    if (!parsed || !session || !secretMatches(parsed.secret, session.secretHash)) return null;
    return (await this.endOne(session, { initiatedBy: 'sp', ...clientAddressData(client) })) ? session : null;
  }

  /**
   * Ends the sessions a signed IdP LogoutRequest names: those of the user, or only those
   * with one of `sessionIndexes` when it names any (SAML Core §3.7.3.2).
   */
  endSignedOutAtIdp(user: Pick<UserIdentity, 'id' | 'idp'>, sessionIndexes: readonly string[], client: string | undefined): Promise<LoginSession[]> {
    const named = (session: LoginSession) => sessionIndexes.length === 0 || (session.saml?.sessionIndex != null && sessionIndexes.includes(session.saml.sessionIndex));
    return this.endOfUser(user.id, named, { initiatedBy: 'idp', ...clientAddressData(client) });
  }

  /** Ends every session of a user SCIM deprovisioned (their credentials are refused anyway: this removes them). */
  endDeprovisioned(userId: string): Promise<LoginSession[]> {
    return this.endOfUser(userId, () => true, { initiatedBy: 'scim' });
  }

  private async endOfUser(userId: string, chosen: (session: LoginSession) => boolean, data: LogoutData): Promise<LoginSession[]> {
    const ended: LoginSession[] = [];
    for (const session of (await this.deps.sessions.listByUser(userId)).filter(chosen)) {
      if (await this.endOne(session, data)) ended.push(session);
    }
    return ended;
  }

  /**
   * Audited first, then removed; every connection opened with it, on any instance,
   * closes. False when another request ended it first.
   */
  private async endOne(session: LoginSession, data: LogoutData): Promise<boolean> {
    await this.deps.audit.append({ type: 'auth.logout', outcome: 'SUCCESS', actor: session.user.email, data: { idp: session.user.idp, sessionId: session.id, ...data } });
    const ended = await this.deps.sessions.delete(session.id);
    this.deps.events.ended({ kind: 'session', id: session.id, reason: 'signed_out' });
    return ended;
  }
}
