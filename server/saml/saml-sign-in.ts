import type { Profile } from '@node-saml/node-saml';
import { checkIdentity, SignInRecorder } from '../identity/sign-in-identity.js';
import type { SignInRecorderDeps } from '../identity/sign-in-identity.js';
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

/**
 * Finishes a sign-in once node-saml accepted the response's signature and conditions:
 * the checks it leaves out, the replay cache, the user's identity, the audit event, and
 * finally the session. Nothing here trusts a byte outside the signed assertion except
 * Response/@Destination, which is checked to equal our ACS.
 */
export class SamlSignIn {
  private readonly recorder: SignInRecorder;

  constructor(private readonly deps: SignInRecorderDeps & { replay: AssertionReplayCache; publicUrl: string }) {
    this.recorder = new SignInRecorder(deps);
  }

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

    if (solicited === 'unsolicited') checkUnsolicited(facts, now, idp.idpInitiatedSignIn!.maxAgeSeconds * 1000);

    const first = (name: string | undefined) => (name ? facts.attributes.get(name)?.find((v) => v !== '') : undefined);
    const checked = checkIdentity(idp, {
      subject: facts.nameId,
      email: first(idp.attributes.email) ?? (facts.nameIdFormat === EMAIL_FORMAT ? facts.nameId : undefined),
      displayName: first(idp.attributes.displayName) ?? null,
      groups: idp.attributes.groups ? (facts.attributes.get(idp.attributes.groups) ?? []) : [],
    });
    if ('refusal' in checked) throw new SamlRejection(checked.refusal);
    const { user } = checked;

    if (!(await this.deps.replay.consume(`${idp.id}:${facts.assertionId}`, facts.replayUntil))) throw new SamlRejection('replay');
    const initiatedBy = solicited === 'solicited' ? 'sp' : 'idp';
    const session = await this.recorder.succeeded(user, { idp: idp.id, nameId: user.nameId, groups: user.groups, initiatedBy }, { sessionIndex: facts.sessionIndex, nameIdFormat: facts.nameIdFormat });
    if (!session) throw new SamlRejection('user_deprovisioned');
    return { user, initiatedBy, ...session };
  }

  /** Records a refused sign-in: the IdP (ours, from the route) and a fixed code, nothing the sender wrote. */
  refused(idpId: string, reason: RefusalCode): Promise<void> {
    return this.recorder.refused(idpId, reason);
  }
}

/**
 * An unsolicited response answers no request, so nothing ties it to this browser's
 * wish to sign in: only its age bounds how long a stolen or planted one stays usable
 * (the replay cache stops a second use). Both times are inside the signed assertion; the
 * bound is maxAgeSeconds itself, with no clock skew added to it.
 *
 * Response/@InResponseTo is outside the assertion's signature: stripping it from a
 * captured solicited response would pass it off as unsolicited (node-saml, with
 * validateInResponseTo 'ifPresent', then skips the signed SubjectConfirmationData's
 * InResponseTo). An assertion whose bearer confirmation names a request answers that
 * request, and only that one (SAML Profiles §4.1.4.2, §4.1.4.3): never an unsolicited one.
 */
function checkUnsolicited(facts: SignedAssertionFacts, now: number, maxAgeMs: number): void {
  if (facts.answersRequest) throw new SamlRejection('unsolicited_answers_request');
  const { issuedAt, authenticatedAt } = facts;
  if (issuedAt === null || authenticatedAt === null) throw new SamlRejection('unsolicited_too_old');
  if (now - Math.min(issuedAt, authenticatedAt) > maxAgeMs) throw new SamlRejection('unsolicited_too_old');
}
