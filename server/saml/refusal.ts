/**
 * Why a SAML sign-in was refused: a fixed set of stable codes, the only thing a refusal
 * records (audit `auth.login` DENIED, `data.reason`). Nothing the sender wrote ever
 * reaches the audit log: the libraries' own messages quote the input ("Unknown SAML
 * issuer ... Received: <anything>", a whole Reference element), and an unauthenticated
 * sender must not be able to write into a durable, trusted record. docs/audit.md lists
 * them.
 */
const REFUSALS = {
  response_missing: 'no SAMLResponse in the post',
  redirect_binding: 'a SAML message in the query string (only HTTP-POST responses are accepted)',
  response_too_large: 'the response is larger than accepted',
  too_many_elements: 'the response has more elements than accepted',
  too_deep: 'the response nests elements deeper than accepted',
  too_many_attributes: 'the response has more XML attributes than accepted',
  malformed_xml: 'the response is not well-formed XML',
  xml_dtd: 'the response carries a DTD',
  xml_comment: 'the response carries an XML comment',
  xml_processing_instruction: 'the response carries a processing instruction',
  not_a_response: 'not a SAML Response',
  idp_error_status: 'the IdP answered with an error status',
  signature_invalid: 'no valid IdP signature over the assertion (or the logout message)',
  assertion_missing: 'no signed assertion',
  assertion_id_missing: 'the assertion has no ID',
  issuer_mismatch: 'the issuer is not this IdP',
  destination_mismatch: 'the Destination is not this endpoint',
  recipient_mismatch: 'no bearer SubjectConfirmation whose Recipient is this ACS',
  subject_confirmation_invalid: 'the bearer SubjectConfirmationData has no valid NotOnOrAfter',
  audience_mismatch: 'the audience is not this service provider',
  audience_missing: 'no AudienceRestriction with an Audience',
  conditions_invalid: 'the assertion must hold exactly one Conditions, with a valid NotOnOrAfter if it has a NotBefore',
  not_yet_valid: 'the assertion (or the logout message) is not yet valid',
  expired: 'the assertion (or the logout message) has expired',
  unsolicited_response: 'no InResponseTo: an IdP-initiated (unsolicited) response, not accepted from this IdP',
  unsolicited_too_old: 'an IdP-initiated response older than this IdP\'s idpInitiatedSignIn.maxAgeSeconds',
  unsolicited_answers_request: 'a response without InResponseTo whose assertion answers a request (SubjectConfirmationData InResponseTo)',
  in_response_to_unknown: 'InResponseTo names no pending request of this IdP (unknown, used or expired)',
  browser_mismatch: 'the sign-in was begun in another browser',
  replay: 'the assertion (or the LogoutRequest) was already used (replay)',
  name_id_invalid: 'the NameID is not exactly one plain-text node',
  email_missing: 'no valid email in the configured attribute',
  email_domain_not_allowed: 'email domain not allowed for this IdP',
  too_many_groups: 'more groups than accepted',
  user_deprovisioned: 'the IdP deprovisioned this user over SCIM',
  assertion_not_encrypted: 'a plain assertion where this IdP must encrypt',
  encryption_algorithm_refused: 'encrypted with an algorithm not accepted (only AES-GCM/CBC with RSA-OAEP key transport)',
  decryption_failed: 'no key of this service provider decrypts the assertion (another key, or tampered; with AES-CBC, any decrypted content that is no valid signed assertion)',
  idp_unavailable: "the IdP's metadata could not be fetched yet",
  message_missing: 'no single SAMLRequest or SAMLResponse',
  message_too_large: 'the logout message is larger than accepted, inflated or not',
  not_a_logout_message: 'not a SAML LogoutRequest or LogoutResponse',
  unsigned: 'the logout message carries no signature',
  issue_instant_invalid: 'the assertion (or the logout message) has no valid IssueInstant',
} as const;

export type RefusalCode = keyof typeof REFUSALS;

/** Every code, for the documentation's tables to be checked against. */
export const REFUSAL_CODES = Object.keys(REFUSALS) as RefusalCode[];

/** The fixed sentence for a code: safe to show anyone, since it quotes nothing. */
export function refusalMeaning(code: RefusalCode): string {
  return REFUSALS[code];
}

/**
 * A refused sign-in; `code` is what gets recorded. `detail` says which rule refused it, for
 * the debug log only: fixed text, never anything the sender wrote.
 */
export class SamlRejection extends Error {
  constructor(
    readonly code: RefusalCode,
    readonly detail?: string,
  ) {
    super(refusalMeaning(code));
  }
}
