import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { SamlSessionFacts, UserDirectoryStore, UserIdentity } from '../stores/types.js';
import { EMAIL_ADDRESS, emailAllowed } from './email-domains.js';
import type { LoginSessionService } from './login-sessions.js';
import type { ScimStanding } from '../scim/standing.js';

/** More groups than this is a misconfigured IdP (or a response built to exhaust us), not a person. */
export const MAX_GROUPS = 200;

/** Why the person an IdP vouched for is not let in, whatever the protocol (each protocol's refusal codes include these). */
export type IdentityRefusal = 'email_missing' | 'email_domain_not_allowed' | 'too_many_groups';

/** What an IdP said about the person, already authenticated by its protocol (a signed assertion, a validated ID token). */
export interface AssertedIdentity {
  /** The IdP's stable identifier for the person (SAML NameID, OIDC `sub`). */
  subject: string;
  email: string | undefined;
  displayName: string | null;
  groups: readonly string[];
}

/**
 * The user an IdP may sign in, held to the same rules for SAML and OIDC: a well-formed
 * email, in one of this IdP's domains (a signature proves which IdP spoke, not that it may
 * speak for this address: `identityProviders[].emailDomains`), and a bounded set of groups.
 * The user id is `<idp>:<subject>`, so two IdPs' subjects never collide.
 */
export function checkIdentity(idp: { id: string; emailDomains?: readonly string[] | undefined }, asserted: AssertedIdentity): { user: UserIdentity } | { refusal: IdentityRefusal } {
  const { email } = asserted;
  if (!email || !EMAIL_ADDRESS.test(email)) return { refusal: 'email_missing' };
  if (!emailAllowed(email, idp.emailDomains)) return { refusal: 'email_domain_not_allowed' };
  const groups = [...new Set(asserted.groups)].filter((g) => g !== '');
  if (groups.length > MAX_GROUPS) return { refusal: 'too_many_groups' };
  return { user: { id: `${idp.id}:${asserted.subject}`, idp: idp.id, nameId: asserted.subject, email, displayName: asserted.displayName, groups } };
}

export interface SignInRecorderDeps {
  audit: AuditLog;
  sessions: LoginSessionService;
  standing: Pick<ScimStanding, 'admitsSignIn'>;
  /** Where the user is recorded as seen: reviewers reached by group, Slack users matched by email. */
  directory: Pick<UserDirectoryStore, 'seen'>;
  clock: Clock;
}

/** The last steps of every sign-in, whatever the protocol: the audit event first (fail closed), the user directory, then the session. */
export class SignInRecorder {
  constructor(private readonly deps: SignInRecorderDeps) {}

  /** The session of a person the IdP vouched for, or null when SCIM deprovisioned them (refuse as `user_deprovisioned`). */
  async succeeded(user: UserIdentity, data: Record<string, unknown>, saml?: SamlSessionFacts): Promise<{ cookieValue: string; expiresAt: number } | null> {
    if (!(await this.deps.standing.admitsSignIn(user))) return null;
    await this.deps.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: user.email, data });
    await this.deps.directory.seen(user, this.deps.clock.now());
    return this.deps.sessions.start(user, saml);
  }

  /** A refused sign-in: the IdP (ours, from the route) and fixed codes, nothing the sender wrote. */
  async refused(idpId: string, reason: string, details: Record<string, string> = {}): Promise<void> {
    await this.deps.audit.append({ type: 'auth.login', outcome: 'DENIED', actor: null, data: { idp: idpId, reason, ...details } });
  }
}
