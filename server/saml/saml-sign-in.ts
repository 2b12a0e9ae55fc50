import type { Profile } from '@node-saml/node-saml';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { EMAIL_ADDRESS, emailAllowed } from '../identity/email-domains.js';
import type { LoginSessionService } from '../identity/login-sessions.js';
import type { AssertionReplayCache, UserIdentity } from '../stores/types.js';
import type { IdentityProvider } from './identity-providers.js';
import { SamlRejection } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import { checkSignedAssertion } from './signed-assertion.js';
import type { SignedAssertionFacts } from './signed-assertion.js';
import { spUrls } from './sp-urls.js';

/** Whether a response answers a request of ours ('unknown': it names one we do not hold). */
export type Solicitation = 'solicited' | 'unsolicited' | 'unknown';

export interface SignInOutcome {
  user: UserIdentity;
  initiatedBy: 'sp' | 'idp';
  cookieValue: string;
  expiresAt: number;
}

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const MAX_GROUPS = 200;

/**
 * Finishes a sign-in once node-saml accepted the response's signature and conditions:
 * the checks it leaves out, the replay cache, the user's identity, the audit event, and
 * finally the session. Nothing here trusts a byte outside the signed assertion except
 * Response/@Destination, which is checked to equal our ACS.
 */
export class SamlSignIn {
  constructor(private readonly deps: { replay: AssertionReplayCache; audit: AuditLog; clock: Clock; sessions: LoginSessionService; publicUrl: string }) {}

  /**
   * `solicitation` takes the response's request id from the shared cache (atomically: of
   * two responses racing on one id, one gets 'solicited'), or says there is none.
   */
  async complete(idp: IdentityProvider, profile: Profile, solicitation: () => Promise<Solicitation>): Promise<SignInOutcome> {
    const signedAssertionXml = profile.getAssertionXml?.();
    const responseXml = profile.getSamlResponseXml?.();
    if (!signedAssertionXml || !responseXml) throw new SamlRejection('assertion_missing');
    const solicited = await solicitation();
    if (solicited === 'unknown') throw new SamlRejection('in_response_to_unknown');
    if (solicited === 'unsolicited' && !idp.idpInitiatedSignIn?.enabled) throw new SamlRejection('unsolicited_response');
    const now = this.deps.clock.now();
    const facts = checkSignedAssertion({
      responseXml,
      signedAssertionXml,
      acsUrl: spUrls(this.deps.publicUrl, idp.id).acs,
      idpIssuer: idp.idpIssuer,
      libraryNameId: profile.nameID,
      nowMs: now,
      skewMs: idp.clockSkewSeconds * 1000,
    });

    if (solicited === 'unsolicited') checkUnsolicitedAge(facts, now, idp.idpInitiatedSignIn!.maxAgeSeconds * 1000);

    const first = (name: string | undefined) => (name ? facts.attributes.get(name)?.find((v) => v !== '') : undefined);
    const email = first(idp.attributes.email) ?? (facts.nameIdFormat === EMAIL_FORMAT ? facts.nameId : undefined);
    if (!email || !EMAIL_ADDRESS.test(email)) throw new SamlRejection('email_missing');
    // A signature proves which IdP spoke, not that it may speak for this address: another
    // IdP's users are not this IdP's to vouch for (identityProviders[].emailDomains).
    if (!emailAllowed(email, idp.emailDomains)) throw new SamlRejection('email_domain_not_allowed');
    const groups = idp.attributes.groups ? [...new Set(facts.attributes.get(idp.attributes.groups) ?? [])].filter((g) => g !== '') : [];
    if (groups.length > MAX_GROUPS) throw new SamlRejection('too_many_groups');
    const user: UserIdentity = {
      id: `${idp.id}:${facts.nameId}`,
      idp: idp.id,
      nameId: facts.nameId,
      email,
      displayName: first(idp.attributes.displayName) ?? null,
      groups,
    };

    if (!(await this.deps.replay.consume(`${idp.id}:${facts.assertionId}`, facts.replayUntil))) throw new SamlRejection('replay');
    const initiatedBy = solicited === 'solicited' ? 'sp' : 'idp';
    await this.deps.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: user.email, data: { idp: idp.id, nameId: user.nameId, groups, initiatedBy } });
    const session = await this.deps.sessions.start(user, { sessionIndex: facts.sessionIndex, nameIdFormat: facts.nameIdFormat });
    return { user, initiatedBy, ...session };
  }

  /** Records a refused sign-in: the IdP (ours, from the route) and a fixed code, nothing the sender wrote. */
  async refused(idpId: string, reason: RefusalCode): Promise<void> {
    await this.deps.audit.append({ type: 'auth.login', outcome: 'DENIED', actor: null, data: { idp: idpId, reason } });
  }
}

/**
 * An unsolicited response answers no request, so nothing ties it to this browser's
 * wish to sign in: only its age bounds how long a stolen or planted one stays usable
 * (the replay cache stops a second use). Both times are inside the signed assertion; the
 * bound is maxAgeSeconds itself, with no clock skew added to it.
 */
function checkUnsolicitedAge(facts: SignedAssertionFacts, now: number, maxAgeMs: number): void {
  const { issuedAt, authenticatedAt } = facts;
  if (issuedAt === null || authenticatedAt === null) throw new SamlRejection('unsolicited_too_old');
  if (now - Math.min(issuedAt, authenticatedAt) > maxAgeMs) throw new SamlRejection('unsolicited_too_old');
}
