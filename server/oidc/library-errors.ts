import * as client from 'openid-client';
import { OidcRejection } from './refusal.js';

/** oauth4webapi's codes for an ID token that failed its checks (claims, times, key, algorithm). */
const ID_TOKEN_CODES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', 'OAUTH_KEY_SELECTION_FAILED', 'OAUTH_UNSUPPORTED_OPERATION']);

/** Timeouts, aborts, and openid-client's "something went wrong" (no code) for a failure it cannot name. */
const UNREACHABLE_CODES = new Set(['OAUTH_TIMEOUT', 'OAUTH_ABORT']);

/**
 * An invalid response whose detail is a JWT's header, claims or signature: the ID token
 * (its alg, a missing claim, a signature that does not verify). openid-client wraps
 * oauth4webapi's error, whose own cause holds that detail.
 */
function aboutJwt(cause: unknown): boolean {
  const detail = (cause as { cause?: unknown } | undefined)?.cause;
  return typeof detail === 'object' && detail !== null && ['header', 'claims', 'signature'].some((key) => key in detail);
}

/**
 * The refusal for an error openid-client threw while finishing a sign-in: the provider's
 * own OAuth error, the network, or a check that failed. The library's message is never
 * recorded (it may quote the response).
 */
export function refusalOfLibraryError(error: unknown): OidcRejection {
  if (error instanceof OidcRejection) return error;
  if (error instanceof client.AuthorizationResponseError || error instanceof client.ResponseBodyError) return new OidcRejection('provider_error', error.error, { cause: error });
  if (error instanceof client.ClientError) {
    if (error.code === undefined || UNREACHABLE_CODES.has(error.code)) return new OidcRejection('provider_unavailable', undefined, { cause: error });
    if (ID_TOKEN_CODES.has(error.code) || (error.code === 'OAUTH_INVALID_RESPONSE' && aboutJwt(error.cause))) return new OidcRejection('id_token_invalid', undefined, { cause: error });
    return new OidcRejection('response_invalid', undefined, { cause: error });
  }
  // fetch's own failure (connection refused, DNS, TLS).
  if (error instanceof TypeError && error.message === 'fetch failed') return new OidcRejection('provider_unavailable', undefined, { cause: error });
  throw error;
}
