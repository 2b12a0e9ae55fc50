/**
 * The error codes the OAuth RFCs name for each endpoint: RFC 6749 §4.1.2.1 and §5.2,
 * RFC 7591 §3.2.2, RFC 8707 §2 (`invalid_target`), RFC 6750 §3.1 (resource server).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'temporarily_unavailable';

/**
 * A refusal the client is told about in the protocol's own terms. The description is ours,
 * never an echo of the request (it lands in clients' logs and, on redirects, in URLs).
 */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    /** Why, in a fixed word, for the audit log (`oauth.token.refused` data.reason). */
    readonly reason?: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }

  /** RFC 6749 §5.2: 401 for a client that failed to authenticate, 400 otherwise. */
  get status(): number {
    return this.error === 'invalid_client' ? 401 : this.error === 'temporarily_unavailable' ? 503 : 400;
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}
