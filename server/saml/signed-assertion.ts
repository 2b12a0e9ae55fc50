import { SamlRejection } from './refusal.js';
import { childElements, pathElements, SAML_NS, timestamp } from './xml-read.js';

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const XMLNS = 'http://www.w3.org/2000/xmlns/';

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

export interface AssertionExpectations {
  /** Our ACS for this IdP: the Response's Destination and the bearer confirmation's Recipient. */
  acsUrl: string;
  idpIssuer: string;
  /** Our SP entity id for this IdP: the Audience. */
  audience: string;
  /** Response/@InResponseTo, already matched to a pending request of ours; null for an unsolicited response. */
  inResponseTo: string | null;
  nowMs: number;
  skewMs: number;
}

/**
 * Everything a verified assertion must say before anyone is signed in, read from the
 * `assertion` element the IdP's signature covers (signed-response.ts), by child steps
 * only. `response` is the Response around it: only its Destination is read, and checked
 * to name this ACS (a response signed for another SP is not ours). Identity is read by
 * textContent from one plain text node, so a comment cannot truncate it (CVE-2017-11428
 * class). The checks node-saml made come first, in its order (their refusal codes are
 * the ones a given response got before), then those it left out (PITFALLS).
 */
export function checkSignedAssertion(response: Element, assertion: Element, expected: AssertionExpectations): SignedAssertionFacts {
  // IssueInstant is required (Core §2.3.3); node-saml parsed it beside every NotOnOrAfter
  // it checked and refused the response when it was missing or no date.
  const issuedAt = timestamp(assertion.getAttribute('IssueInstant'));
  if (issuedAt === null) throw new SamlRejection('issue_instant_invalid');
  if (expected.inResponseTo !== null) checkConfirmationAnswers(assertion, expected);
  const conditionsExpiry = checkConditions(assertion, expected);

  if (response.getAttribute('Destination') !== expected.acsUrl) throw new SamlRejection('destination_mismatch');
  const assertionId = assertion.getAttribute('ID');
  if (!assertionId) throw new SamlRejection('assertion_id_missing');

  const issuers = childElements(assertion, SAML_NS.saml, 'Issuer');
  if (issuers.length !== 1 || issuers[0]!.textContent?.trim() !== expected.idpIssuer) throw new SamlRejection('issuer_mismatch');

  const nameIds = pathElements(assertion, SAML_NS.saml, 'Subject/NameID');
  if (nameIds.length !== 1) throw new SamlRejection('name_id_invalid');
  const nameIdNode = nameIds[0]!;
  // Anything but one text node (a comment, an element, a CDATA split) means the text a
  // naive reader takes is not the whole identity: refuse rather than guess.
  if (nameIdNode.childNodes.length !== 1 || nameIdNode.firstChild?.nodeType !== 3) throw new SamlRejection('name_id_invalid');
  const nameId = nameIdNode.textContent ?? '';
  if (nameId.trim() === '') throw new SamlRejection('name_id_invalid');

  const confirmations = bearerConfirmations(assertion);
  const forUs = confirmations.filter((data) => data.getAttribute('Recipient') === expected.acsUrl);
  if (forUs.length === 0) throw new SamlRejection('recipient_mismatch');
  const confirmationExpiry = forUs.map((data) => timestamp(data.getAttribute('NotOnOrAfter')));
  if (confirmationExpiry.some((t) => t === null)) throw new SamlRejection('subject_confirmation_invalid');
  const liveUntil = Math.max(...(confirmationExpiry as number[]));
  if (expected.nowMs - expected.skewMs >= liveUntil) throw new SamlRejection('expired');

  const attributes = new Map<string, string[]>();
  for (const attribute of pathElements(assertion, SAML_NS.saml, 'AttributeStatement/Attribute')) {
    const name = attribute.getAttribute('Name');
    if (!name) continue;
    const values = childElements(attribute, SAML_NS.saml, 'AttributeValue').map((v) => (v.textContent ?? '').trim());
    attributes.set(name, [...(attributes.get(name) ?? []), ...values]);
  }

  const authnStatements = childElements(assertion, SAML_NS.saml, 'AuthnStatement');
  const authnInstants = authnStatements.map((statement) => timestamp(statement.getAttribute('AuthnInstant')));
  const sessionIndexes = [...new Set(authnStatements.map((statement) => statement.getAttribute('SessionIndex')).filter((index) => index))];

  return {
    assertionId,
    issuedAt,
    authenticatedAt: authnInstants.length === 0 || authnInstants.includes(null) ? null : Math.min(...(authnInstants as number[])),
    sessionIndex: sessionIndexes.length === 1 ? sessionIndexes[0]! : null,
    answersRequest: confirmations.some((data) => data.hasAttribute('InResponseTo')),
    replayUntil: Math.max(liveUntil, conditionsExpiry ?? 0) + expected.skewMs,
    nameId,
    nameIdFormat: nameIdNode.getAttribute('Format'),
    attributes,
  };
}

/**
 * A solicited response's assertion answers that request (SAML Profiles §4.1.4.3): the first
 * SubjectConfirmation whose data is within its validity window (node-saml's choice; any
 * method) must not name another request. Past every window: expired.
 */
function checkConfirmationAnswers(assertion: Element, expected: AssertionExpectations): void {
  const confirmations = pathElements(assertion, SAML_NS.saml, 'Subject/SubjectConfirmation');
  if (confirmations.length === 0) return;
  const current = confirmations
    .map((confirmation) => childElements(confirmation, SAML_NS.saml, 'SubjectConfirmationData')[0])
    .find((data) => data !== undefined && data.attributes.length > 0 && withinWindow(data, expected) === null);
  if (!current) throw new SamlRejection('expired', 'no SubjectConfirmation within its validity window');
  const answers = current.getAttribute('InResponseTo');
  if (answers && answers !== expected.inResponseTo) throw new SamlRejection('in_response_to_unknown', 'the SubjectConfirmationData answers another request');
}

/**
 * Exactly one Conditions, within its window, restricted to our audience (every
 * AudienceRestriction must name us: Core §2.5.1.4). Returns its NotOnOrAfter. A Conditions
 * with any attribute (a NotBefore alone included) must carry a valid NotOnOrAfter, as
 * node-saml required: an assertion with no end is valid forever but for the replay cache.
 */
function checkConditions(assertion: Element, expected: AssertionExpectations): number | null {
  const conditions = childElements(assertion, SAML_NS.saml, 'Conditions');
  if (conditions.length !== 1) throw new SamlRejection('conditions_invalid');
  const bounded = Array.from(conditions[0]!.attributes).some((attribute) => attribute.namespaceURI !== XMLNS);
  if (bounded && timestamp(conditions[0]!.getAttribute('NotOnOrAfter')) === null) throw new SamlRejection('conditions_invalid');
  const refusal = withinWindow(conditions[0]!, expected);
  if (refusal) throw new SamlRejection(refusal);
  const restrictions = childElements(conditions[0]!, SAML_NS.saml, 'AudienceRestriction');
  if (restrictions.length === 0) throw new SamlRejection('audience_missing');
  for (const restriction of restrictions) {
    const audiences = childElements(restriction, SAML_NS.saml, 'Audience').map((audience) => audience.textContent ?? '');
    if (audiences.length === 0 || audiences[0] === '') throw new SamlRejection('audience_missing');
    if (!audiences.includes(expected.audience)) throw new SamlRejection('audience_mismatch');
  }
  return timestamp(conditions[0]!.getAttribute('NotOnOrAfter'));
}

/** Whether now (give or take the skew) is within an element's NotBefore and NotOnOrAfter, when it has them. */
function withinWindow(element: Element, expected: AssertionExpectations): 'not_yet_valid' | 'expired' | 'conditions_invalid' | null {
  const notBefore = element.getAttribute('NotBefore');
  const notOnOrAfter = element.getAttribute('NotOnOrAfter');
  const start = timestamp(notBefore);
  const end = timestamp(notOnOrAfter);
  if ((notBefore && start === null) || (notOnOrAfter && end === null)) return 'conditions_invalid';
  if (start !== null && expected.nowMs + expected.skewMs < start) return 'not_yet_valid';
  if (end !== null && expected.nowMs - expected.skewMs >= end) return 'expired';
  return null;
}

function bearerConfirmations(assertion: Element): Element[] {
  return pathElements(assertion, SAML_NS.saml, 'Subject/SubjectConfirmation')
    .filter((confirmation) => confirmation.getAttribute('Method') === BEARER)
    .flatMap((confirmation) => childElements(confirmation, SAML_NS.saml, 'SubjectConfirmationData'));
}
