import { checkPoster } from './browser-binding.js';
import type { Poster } from './browser-binding.js';
import { SamlRejection } from './refusal.js';
import type { StoreRequestIdCache } from './request-id-cache.js';
import type { SignedAssertionFacts } from './signed-assertion.js';

/**
 * The request of ours a Response answers (Response/@InResponseTo), taken from the pending
 * requests so no second response can answer it; null for an unsolicited (IdP-initiated)
 * response, which only an IdP with `idpInitiatedSignIn.enabled` may send. Checked before
 * any signature, as node-saml did, and before any decryption: these refusals read only the
 * unsigned InResponseTo, never the plaintext. Once taken, the request stays used up whatever later
 * check refuses the response (node-saml removed it on its refusals too): a second post
 * naming it cannot tell which check refused the first (a CBC decryption oracle).
 *
 * The request must have been begun by the browser that posts its answer (`poster`). A
 * response refused for another browser is used up too: whoever planted it loses only their
 * own sign-in, and it cannot be tried on a second victim.
 */
export async function takeAnsweredRequest(response: Element, requests: StoreRequestIdCache, unsolicitedAllowed: boolean, poster: Poster): Promise<string | null> {
  const requestId = response.getAttribute('InResponseTo');
  if (!requestId) {
    if (!unsolicitedAllowed) throw new SamlRejection('unsolicited_response');
    return null;
  }
  const browser = await requests.removeAsync(requestId);
  if (browser === null) throw new SamlRejection('in_response_to_unknown');
  // Every pending login holds its browser's binding: a value of any other form matches none.
  checkPoster(poster, browser);
  return requestId;
}

/**
 * Uses up the request a response names when it is refused before takeAnsweredRequest runs
 * (its root is no samlp:Response): or whether a refusal came before or after that point
 * would show in the request still pending.
 */
export async function forgetAnsweredRequest(doc: Document, requests: StoreRequestIdCache): Promise<void> {
  const requestId = doc.documentElement?.getAttribute('InResponseTo');
  if (requestId) await requests.removeAsync(requestId);
}

/**
 * An unsolicited response answers no request, so nothing ties it to this browser's
 * wish to sign in: only its age bounds how long a stolen or planted one stays usable
 * (the replay cache stops a second use). Both times are inside the signed assertion; the
 * bound is maxAgeSeconds itself, with no clock skew added to it.
 *
 * Response/@InResponseTo is outside the assertion's signature: stripping it from a
 * captured solicited response would pass it off as unsolicited (and the check that the
 * signed SubjectConfirmationData's InResponseTo names the same request only runs for a
 * solicited one). An assertion whose bearer confirmation names a request answers that
 * request, and only that one (SAML Profiles §4.1.4.2, §4.1.4.3): never an unsolicited one.
 */
export function checkUnsolicited(facts: SignedAssertionFacts, now: number, maxAgeMs: number): void {
  if (facts.answersRequest) throw new SamlRejection('unsolicited_answers_request');
  const { issuedAt, authenticatedAt } = facts;
  if (issuedAt === null || authenticatedAt === null) throw new SamlRejection('unsolicited_too_old');
  if (now - Math.min(issuedAt, authenticatedAt) > maxAgeMs) throw new SamlRejection('unsolicited_too_old');
}
