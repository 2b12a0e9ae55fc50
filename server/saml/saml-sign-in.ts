import { checkIdentity, SignInRecorder } from '../identity/sign-in-identity.js';
import type { SignInRecorderDeps } from '../identity/sign-in-identity.js';
import type { AssertionReplayCache, UserIdentity } from '../stores/types.js';
import type { IdentityProvider } from './identity-providers.js';
import { SamlRejection } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import type { SignedAssertionFacts } from './signed-assertion.js';

export interface SignInOutcome {
  user: UserIdentity;
  initiatedBy: 'sp' | 'idp';
  cookieValue: string;
  expiresAt: number;
}

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/**
 * Finishes a sign-in once the ACS has accepted the response (assertion-consumer.ts): the
 * user's identity from the signed assertion's facts, the replay cache, the audit event,
 * and finally the session.
 */
export class SamlSignIn {
  private readonly recorder: SignInRecorder;

  constructor(private readonly deps: SignInRecorderDeps & { replay: AssertionReplayCache }) {
    this.recorder = new SignInRecorder(deps);
  }

  async complete(idp: IdentityProvider, facts: SignedAssertionFacts, initiatedBy: 'sp' | 'idp', client: string | undefined): Promise<SignInOutcome> {
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
    const session = await this.recorder.succeeded(user, { idp: idp.id, nameId: user.nameId, groups: user.groups, initiatedBy }, client, { sessionIndex: facts.sessionIndex, nameIdFormat: facts.nameIdFormat });
    if (!session) throw new SamlRejection('user_deprovisioned');
    return { user, initiatedBy, ...session };
  }

  /** Records a refused sign-in: the IdP (ours, from the route) and a fixed code, nothing the sender wrote. */
  refused(idpId: string, reason: RefusalCode, client: string | undefined): Promise<void> {
    return this.recorder.refused(idpId, reason, client);
  }
}
