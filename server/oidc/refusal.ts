import type { IdentityRefusal } from '../identity/sign-in-identity.js';

/**
 * Why an OIDC sign-in was refused: a fixed set of stable codes, the only thing a refusal
 * records (audit `auth.login` DENIED, `data.reason`), as for SAML (saml/refusal.ts): the
 * provider's and the library's messages may quote what an unauthenticated sender wrote.
 * docs/identity.md lists them.
 */
const REFUSALS = {
  state_missing: 'the callback carries no well-formed state',
  state_unknown: 'the state names no pending sign-in of this IdP (unknown, already used or expired)',
  browser_mismatch: 'the callback reached another browser than the one that began the sign-in',
  provider_error: 'the provider answered with an error',
  provider_unavailable: 'the provider could not be reached',
  response_invalid: 'the provider\'s response is not a valid authorization or token response',
  id_token_invalid: 'the ID token failed validation (signature, algorithm, issuer, audience, times, nonce or at_hash)',
  subject_invalid: 'the ID token\'s sub is not 1 to 255 printable characters',
  email_missing: 'no valid email in the configured claim',
  email_not_verified: 'the provider does not say the email is verified (email_verified is not true)',
  email_domain_not_allowed: 'email domain not allowed for this IdP',
  groups_invalid: 'the groups claim is not an array of strings',
  too_many_groups: 'more groups than accepted',
  user_deprovisioned: 'SCIM deactivated or deleted this user (identityProviders[].scim)',
} as const satisfies Record<IdentityRefusal, string> & Record<string, string>;

export type OidcRefusalCode = keyof typeof REFUSALS;

/**
 * The OAuth error codes a provider's error is recorded under (RFC 6749 §4.1.2.1 and §5.2,
 * OpenID Connect Core §3.1.2.6); any other value is recorded as `other`.
 */
const PROVIDER_ERRORS = new Set([
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'invalid_client',
  'invalid_grant',
  'unsupported_grant_type',
]);

/** A refused sign-in; `code` (and for provider_error, the provider's OAuth error code) is what gets recorded. */
export class OidcRejection extends Error {
  readonly providerError: string | undefined;

  constructor(
    readonly code: OidcRefusalCode,
    providerError?: unknown,
    options?: ErrorOptions,
  ) {
    super(REFUSALS[code], options);
    this.providerError = code === 'provider_error' ? (typeof providerError === 'string' && PROVIDER_ERRORS.has(providerError) ? providerError : 'other') : undefined;
  }

  /** What the audit event records beside the reason. */
  get details(): Record<string, string> {
    return this.providerError === undefined ? {} : { error: this.providerError };
  }
}
