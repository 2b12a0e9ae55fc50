import type { Clock } from '../clock.js';
import type { OneTimeValueStore } from '../stores/types.js';
import type { Poster } from './browser-binding.js';
import { decryptedAssertionOf, opaqueRefusal } from './encrypted-assertion.js';
import type { IdentityProvider } from './identity-providers.js';
import type { IdpTrustSource } from './idp-trust.js';
import { checkRawResponse } from './raw-response.js';
import { SamlRejection } from './refusal.js';
import { StoreRequestIdCache } from './request-id-cache.js';
import type { SamlSignIn, SignInOutcome } from './saml-sign-in.js';
import { checkSignedAssertion } from './signed-assertion.js';
import { responseElement, signedAssertionOf } from './signed-response.js';
import { checkUnsolicited, forgetAnsweredRequest, takeAnsweredRequest } from './solicitation.js';
import type { ServiceProviderKeys } from './sp-keys.js';
import { spUrls } from './sp-urls.js';
import { CertificateKeys } from './xml-signature.js';

/** How long a login may take at the IdP before its request id is forgotten. */
export const REQUEST_ID_TTL_MS = 10 * 60_000;

/**
 * The Assertion Consumer Service (SAML Profiles §4.1.4): a posted Response, parsed once
 * and judged on that one DOM, to a session, or a SamlRejection naming the rule it broke.
 * In order (the order node-saml refused in, so a response gets the code it got before):
 * 1. the raw response's size and shape, then the one DOM: no DTD, comment or processing
 *    instruction, every prefix bound to a namespace (raw-response.ts);
 * 2. a samlp:Response, answering a pending request of ours for this IdP, taken, begun by
 *    the browser that posts it (or an unsolicited one from an IdP that allows them)
 *    (solicitation.ts, browser-binding.ts), before any decryption so that no refusal of
 *    it can tell one CBC plaintext from another;
 * 3. the EncryptedAssertion, if any, decrypted with one of our keys and held to the same
 *    bounds (encrypted-assertion.ts);
 * 4. status Success, one assertion, covered by a valid signature of one of the IdP's
 *    certificates: the Response's, or the assertion's own (always with
 *    requireSignedAssertions) (signed-response.ts, xml-signature.ts);
 * 5. the signed assertion's confirmation, conditions, audience, Destination, issuer,
 *    NameID and Recipient (signed-assertion.ts), an unsolicited one's age (solicitation.ts);
 * 6. the user's identity, the replay cache, the session (saml-sign-in.ts).
 */
export class AssertionConsumer {
  private readonly certificates = new CertificateKeys();

  constructor(
    private readonly deps: {
      signIn: SamlSignIn;
      /** The IdPs' current issuer and certificates (pinned, or from their metadata). */
      trust: IdpTrustSource;
      spKeys: ServiceProviderKeys;
      /** Pending AuthnRequest ids, as the login route saved them. */
      requestIds: OneTimeValueStore;
      clock: Clock;
      publicUrl: string;
    },
  ) {}

  async consume(configured: IdentityProvider, samlResponse: unknown, poster: Poster, client: string | undefined): Promise<SignInOutcome> {
    let idp = this.resolved(configured);
    const doc = checkRawResponse(samlResponse);
    const requests = new StoreRequestIdCache(this.deps.requestIds, 'login', idp.id, this.deps.clock, REQUEST_ID_TTL_MS);
    let response: Element;
    try {
      response = responseElement(doc);
    } catch (error) {
      if (error instanceof SamlRejection) await forgetAnsweredRequest(doc, requests);
      throw error;
    }
    // The request is taken before anything is decrypted: its refusals (none named, or one
    // unknown) read only the unsigned Response/@InResponseTo, so none of them can depend on
    // what a changed CBC ciphertext decrypts to (an attacker strips or changes that attribute
    // at will); from here every refusal before the signature is verified is opaque.
    const requestId = await takeAnsweredRequest(response, requests, idp.idpInitiatedSignIn?.enabled === true, poster);
    const decryption = decryptedAssertionOf(doc, this.deps.spKeys.all, idp.requireEncryptedAssertions);

    let assertion: Element;
    for (let refreshed = false; ; refreshed = true) {
      try {
        assertion = signedAssertionOf(response, decryption?.assertion ?? null, { keys: this.certificates.of(idp.idpCert), requireSignedAssertions: idp.requireSignedAssertions === true });
        break;
      } catch (error) {
        if (!(error instanceof SamlRejection)) throw error;
        // The IdP may have rolled its key: refresh its metadata (at most once a minute:
        // idp-trust.ts) and, only when its certificates changed, check this signature once
        // more against the new ones (and what follows against the refreshed issuer).
        if (error.code === 'signature_invalid' && !refreshed && configured.metadata && (await this.deps.trust.signatureFailed(configured))) {
          idp = this.resolved(configured);
          continue;
        }
        const shown = opaqueRefusal(error.code, decryption);
        throw shown === error.code ? error : new SamlRejection(shown, `${error.code}: ${error.detail ?? ''}`);
      }
    }

    const now = this.deps.clock.now();
    const facts = checkSignedAssertion(response, assertion, {
      acsUrl: spUrls(this.deps.publicUrl, idp.id).acs,
      idpIssuer: idp.idpIssuer,
      audience: idp.spEntityId,
      inResponseTo: requestId,
      nowMs: now,
      skewMs: idp.clockSkewSeconds * 1000,
    });
    if (requestId === null) checkUnsolicited(facts, now, idp.idpInitiatedSignIn!.maxAgeSeconds * 1000);
    return this.deps.signIn.complete(idp, facts, requestId === null ? 'idp' : 'sp', client);
  }

  /** One view of the IdP and its current trust; none yet (metadata never fetched): refused. */
  private resolved(configured: IdentityProvider): IdentityProvider {
    const trust = this.deps.trust.current(configured);
    if (!trust) throw new SamlRejection('idp_unavailable');
    return { ...configured, ...trust };
  }
}
