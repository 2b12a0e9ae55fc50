import type { Response } from 'express';
import { SIGN_IN_PATH } from '../http/console-routes.js';
import { html, sendPage } from '../http/html-page.js';
import { refusalMeaning } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import type { SpUrls } from './sp-urls.js';

/** Where a SAML message was refused: the ACS (a sign-in) or the SingleLogoutService. */
export type RefusingEndpoint = 'acs' | 'slo';

/** The ACS answers 401 with its challenge (the routes add it); a refused logout message is a bad request. */
const PAGES: Record<RefusingEndpoint, { title: string; status: number }> = {
  acs: { title: 'Sign-in refused', status: 401 },
  slo: { title: 'Sign-out refused', status: 400 },
};

/**
 * What an administrator should check for each refusal, in fixed words: the page built
 * from it quotes nothing the sender wrote (a response is unauthenticated input, and a
 * page that echoed it would be a reflection point), only the code and our own URLs.
 */
const FIXES: Record<RefusalCode, (urls: SpUrls, endpoint: RefusingEndpoint) => string> = {
  response_missing: () => 'The IdP must post a SAMLResponse form field (HTTP-POST binding) to the ACS.',
  redirect_binding: (u) => `Set the IdP to send responses with the HTTP-POST binding to ${u.acs}.`,
  response_too_large: () => 'The IdP sends more than 256 KiB: send fewer attributes or groups.',
  too_many_elements: () => 'The IdP sends more elements than accepted: send fewer attributes or groups.',
  too_deep: () => 'The IdP nests elements deeper than any SAML response needs: check what it sends.',
  too_many_attributes: () => 'The IdP sends more XML attributes than accepted: send fewer attribute values.',
  malformed_xml: () => 'The IdP sent something that is not XML: check its SAML application.',
  xml_dtd: () => 'No IdP sends a DTD in a response: check what posted to this address.',
  xml_comment: () => 'No IdP sends XML comments in a response: check what posted to this address.',
  xml_processing_instruction: () => 'No IdP sends processing instructions in a response: check what posted to this address.',
  not_a_response: (u) => `Only SAML Responses are accepted at ${u.acs}.`,
  idp_error_status: () => 'The IdP refused the sign-in itself: its own logs say why (the user may not be assigned to the application).',
  signature_invalid: (u) => `Check idpCert against the IdP's current signing certificate, and that the IdP signs the assertion (see ${u.metadata}).`,
  assertion_missing: () => 'The IdP must send one signed assertion (enable assertion signing).',
  assertion_id_missing: () => 'The IdP sends an assertion without an ID: check its SAML application.',
  issuer_mismatch: () => "Set idpIssuer to the IdP's entity ID exactly as its metadata gives it.",
  destination_mismatch: (u, endpoint) =>
    endpoint === 'acs' ? `The IdP sends responses to another address: set its ACS URL to ${u.acs}.` : `The IdP sends logout messages to another address: set its SP Single Logout URL to ${u.slo}.`,
  recipient_mismatch: (u) => `The IdP's Recipient is another address: set its ACS URL to ${u.acs}.`,
  subject_confirmation_invalid: () => 'The IdP must give the bearer SubjectConfirmationData a NotOnOrAfter.',
  audience_mismatch: () => "Set spEntityId to the audience (SP entity ID) configured at the IdP, or the IdP's to spEntityId.",
  audience_missing: () => 'The IdP must restrict the assertion to an audience: set the SP entity ID in its SAML application.',
  conditions_invalid: () => 'The IdP must send exactly one Conditions element, with a NotOnOrAfter if it has a NotBefore.',
  not_yet_valid: () => "Check the clocks of the IdP and of this server (NTP), or raise clockSkewSeconds.",
  expired: () => 'Check the clocks of the IdP and of this server (NTP); a message posted long after it was issued is refused too.',
  unsolicited_response: () => 'Start the sign-in from Portcullis, or, to accept sign-ins started at the IdP, set idpInitiatedSignIn.enabled for this IdP.',
  unsolicited_too_old: () => 'Sign in again from the IdP, or start from Portcullis; check the clocks, or idpInitiatedSignIn.maxAgeSeconds.',
  unsolicited_answers_request: () => 'The assertion answers a sign-in request but the response does not say which (its InResponseTo was removed): start the sign-in again; if this repeats, check what posted to this address.',
  in_response_to_unknown: () => 'The sign-in took too long or was already used: start it again from Portcullis.',
  browser_mismatch: () => 'The response reached another browser than the one that started the sign-in (or one that lost its cookies): start it again from Portcullis in this browser. If it repeats, a page may be posting sign-ins here.',
  replay: (_u, endpoint) => (endpoint === 'acs' ? 'This response was already used: start the sign-in again.' : 'The IdP sent this LogoutRequest before: check that it does not resend them.'),
  name_id_invalid: () => "The IdP's NameID must be one plain-text value.",
  email_missing: () => 'Set attributes.email to the SAML attribute carrying the email, or send an email-format NameID.',
  email_domain_not_allowed: () => "The email's domain is not in this IdP's emailDomains.",
  too_many_groups: () => 'The IdP sends more than 200 groups: filter the groups it sends to this application.',
  message_missing: (u) => `The IdP must send one SAMLRequest or SAMLResponse to ${u.slo}.`,
  message_too_large: () => 'A logout message is a few kilobytes: check what the IdP sends.',
  not_a_logout_message: (u) => `Only LogoutRequests and LogoutResponses are accepted at ${u.slo}.`,
  unsigned: () => 'Set the IdP to sign its logout messages (LogoutRequest and LogoutResponse).',
  issue_instant_invalid: () => "The IdP must send a valid IssueInstant on its assertions and logout messages: check its clock (NTP).",
  user_deprovisioned: () => "The IdP's SCIM client deactivated or deleted this user: reactivate them at the IdP if they should have access.",
  assertion_not_encrypted: (u) => `This IdP must encrypt its assertions (requireEncryptedAssertions): turn on assertion encryption with the encryption certificate in ${u.metadata}.`,
  encryption_algorithm_refused: () => 'Set the IdP to encrypt with AES-GCM (or AES-CBC) and RSA-OAEP key transport; RSA 1.5 and 3DES are refused.',
  decryption_failed: (u) => `The IdP encrypts to a key this server does not hold: give it the encryption certificate in ${u.metadata}. With AES-CBC this code hides which check failed (a decryption oracle otherwise): encrypt with AES-GCM to see it.`,
  idp_unavailable: () => "The IdP's metadata (metadataUrl) could not be fetched yet: the server log at warn level says why.",
};

/**
 * A refused SAML message as a page: a fixed sentence, the stable code (what the audit
 * event records and docs/identity.md explains), the administrator's fix, and a way back.
 */
export function sendRefusalPage(res: Response, code: RefusalCode, urls: SpUrls, endpoint: RefusingEndpoint): void {
  const { title, status } = PAGES[endpoint];
  res.setHeader('Cache-Control', 'no-store');
  sendPage(
    res,
    title,
    `<h1>${html(title)}</h1><p>${html(capitalised(refusalMeaning(code)))}.</p>` +
      `<p>Reason code: <code>${html(code)}</code></p>` +
      `<p>For the administrator: ${html(FIXES[code](urls, endpoint))}</p>` +
      `<p><a class="button" href="${html(SIGN_IN_PATH)}">Sign in again</a></p>`,
    { status },
  );
}

function capitalised(sentence: string): string {
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}
