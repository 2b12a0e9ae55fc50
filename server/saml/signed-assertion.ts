import { SamlRejection } from './refusal.js';
import { elements, parseXml as parse, SAML_NS as NS, timestamp } from './xml-read.js';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export interface SignedAssertionFacts {
  assertionId: string;
  /** When the assertion could no longer be accepted anyway (latest NotOnOrAfter + skew). */
  replayUntil: number;
  nameId: string;
  nameIdFormat: string | null;
  attributes: Map<string, string[]>;
  /** Assertion/@IssueInstant and the earliest AuthnStatement/@AuthnInstant (null when absent or unreadable). */
  issuedAt: number | null;
  authenticatedAt: number | null;
  /** AuthnStatement/@SessionIndex: what a Single Logout names this sign-in by. */
  sessionIndex: string | null;
  /** Whether a bearer SubjectConfirmationData names a request (InResponseTo): the assertion answers one. */
  answersRequest: boolean;
}

/**
 * The checks node-saml leaves out, made on the XML it verified: Destination and
 * Recipient must name this ACS (a response signed for another SP is not ours), the issuer
 * must be this IdP, and identity is read only from the signed assertion, by textContent,
 * so a comment inside NameID cannot truncate it (CVE-2017-11428 class).
 */
export function checkSignedAssertion(input: {
  responseXml: string;
  signedAssertionXml: string;
  acsUrl: string;
  idpIssuer: string;
  libraryNameId: string;
  nowMs: number;
  skewMs: number;
}): SignedAssertionFacts {
  const response = parse(input.responseXml).documentElement;
  if (!response || response.namespaceURI !== NS.samlp || response.localName !== 'Response') throw new SamlRejection('not_a_response');
  if (response.getAttribute('Destination') !== input.acsUrl) throw new SamlRejection('destination_mismatch');

  const assertion = parse(input.signedAssertionXml).documentElement;
  if (!assertion || assertion.namespaceURI !== NS.saml || assertion.localName !== 'Assertion') throw new SamlRejection('assertion_missing');
  const assertionId = assertion.getAttribute('ID');
  if (!assertionId) throw new SamlRejection('assertion_id_missing');

  const issuers = elements('saml:Issuer', assertion);
  if (issuers.length !== 1 || issuers[0]!.textContent?.trim() !== input.idpIssuer) throw new SamlRejection('issuer_mismatch');

  const nameIds = elements('saml:Subject/saml:NameID', assertion);
  if (nameIds.length !== 1) throw new SamlRejection('name_id_invalid');
  const nameIdNode = nameIds[0]!;
  // Anything but one text node (a comment, an element, a CDATA split) means the text a
  // naive reader takes is not the whole identity: refuse rather than guess.
  if (nameIdNode.childNodes.length !== 1 || nameIdNode.firstChild?.nodeType !== 3) throw new SamlRejection('name_id_invalid');
  const nameId = nameIdNode.textContent ?? '';
  if (nameId.trim() === '' || nameId !== input.libraryNameId) throw new SamlRejection('name_id_invalid');

  const confirmations = elements(`saml:Subject/saml:SubjectConfirmation[@Method='${BEARER}']/saml:SubjectConfirmationData`, assertion);
  const forUs = confirmations.filter((data) => data.getAttribute('Recipient') === input.acsUrl);
  if (forUs.length === 0) throw new SamlRejection('recipient_mismatch');
  const confirmationExpiry = forUs.map((data) => timestamp(data.getAttribute('NotOnOrAfter')));
  if (confirmationExpiry.some((t) => t === null)) throw new SamlRejection('subject_confirmation_invalid');
  const liveUntil = Math.max(...(confirmationExpiry as number[]));
  if (input.nowMs - input.skewMs >= liveUntil) throw new SamlRejection('expired');

  const conditions = elements('saml:Conditions', assertion);
  if (conditions.length !== 1) throw new SamlRejection('conditions_invalid');
  const conditionsExpiry = timestamp(conditions[0]!.getAttribute('NotOnOrAfter'));

  const attributes = new Map<string, string[]>();
  for (const attribute of elements('saml:AttributeStatement/saml:Attribute', assertion)) {
    const name = attribute.getAttribute('Name');
    if (!name) continue;
    const values = elements('saml:AttributeValue', attribute).map((v) => (v.textContent ?? '').trim());
    attributes.set(name, [...(attributes.get(name) ?? []), ...values]);
  }

  const authnStatements = elements('saml:AuthnStatement', assertion);
  const authnInstants = authnStatements.map((statement) => timestamp(statement.getAttribute('AuthnInstant')));
  const sessionIndexes = [...new Set(authnStatements.map((statement) => statement.getAttribute('SessionIndex')).filter((index) => index))];

  return {
    assertionId,
    issuedAt: timestamp(assertion.getAttribute('IssueInstant')),
    authenticatedAt: authnInstants.length === 0 || authnInstants.includes(null) ? null : Math.min(...(authnInstants as number[])),
    sessionIndex: sessionIndexes.length === 1 ? sessionIndexes[0]! : null,
    answersRequest: confirmations.some((data) => data.hasAttribute('InResponseTo')),
    replayUntil: Math.max(liveUntil, conditionsExpiry ?? 0) + input.skewMs,
    nameId,
    nameIdFormat: nameIdNode.getAttribute('Format'),
    attributes,
  };
}
