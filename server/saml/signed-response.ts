import type { KeyObject } from 'node:crypto';
import { SamlRejection } from './refusal.js';
import { elementChildren, pathElements, SAML_NS } from './xml-read.js';
import { envelopedSignatureOf, verifyEnvelopedSignature } from './xml-signature.js';

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * The Response element of a posted document, refused unless it is one: everything else
 * (a LogoutResponse, an Assertion alone) has no business at the ACS.
 */
export function responseElement(doc: Document): Element {
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== SAML_NS.samlp || root.localName !== 'Response') throw new SamlRejection('not_a_response');
  return root;
}

/**
 * The assertion of `response` that the IdP's signature covers, or a refusal: the rules
 * node-saml applied, on the one DOM already built.
 * - The top-level StatusCode must be Success (Core §3.2.2.2): an error answer is
 *   `idp_error_status`, whether or not it carries an assertion (node-saml read the status
 *   only of a response without one).
 * - Exactly one Assertion or EncryptedAssertion child of the Response (by local name, in
 *   any namespace, as node-saml counted them; Core §3.4: a response may carry more, but
 *   more than one is a lever for signature scope confusion and no IdP we know sends it).
 * - A Signature on the Response, if there is one, must verify: a Response changed after
 *   it was signed is refused even when its assertion is signed too (node-saml ignored a
 *   Response signature that did not verify).
 * - The assertion must carry its own valid signature unless the verified Response
 *   signature covers it; with `requireSignedAssertions`, always.
 * `decrypted` is the assertion an EncryptedAssertion child decrypted to (encrypted-assertion.ts),
 * read in its own document: the Response's signature covers its ciphertext.
 */
export function signedAssertionOf(response: Element, decrypted: Element | null, rules: { keys: readonly KeyObject[]; requireSignedAssertions: boolean }): Element {
  const carried = elementChildren(response).filter((child) => child.localName === 'Assertion' || child.localName === 'EncryptedAssertion');
  const statusCodes = pathElements(response, SAML_NS.samlp, 'Status/StatusCode');
  if (statusCodes.length !== 1) throw new SamlRejection(carried.length === 0 ? 'assertion_missing' : 'not_a_response');
  if (statusCodes[0]!.getAttribute('Value') !== SUCCESS) throw new SamlRejection('idp_error_status');

  const responseSignature = envelopedSignatureOf(response);
  if (responseSignature) verifyEnvelopedSignature(response, responseSignature, rules.keys);
  if (carried.length > 1) throw new SamlRejection('signature_invalid', 'more than one assertion in the response');
  const assertion = carried[0]?.localName === 'EncryptedAssertion' ? decrypted : carried[0];
  if (!assertion || assertion.namespaceURI !== SAML_NS.saml || assertion.localName !== 'Assertion') throw new SamlRejection('assertion_missing');
  if (responseSignature && !rules.requireSignedAssertions) return assertion;

  const assertionSignature = envelopedSignatureOf(assertion);
  if (!assertionSignature) throw new SamlRejection('signature_invalid', responseSignature ? 'the assertion itself is not signed (requireSignedAssertions)' : 'neither the response nor the assertion is signed');
  verifyEnvelopedSignature(assertion, assertionSignature, rules.keys);
  return assertion;
}
