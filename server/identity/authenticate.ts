import type { IncomingHttpHeaders } from 'node:http';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { ApiTokenService } from './api-tokens.js';
import type { LoginSessionService } from './login-sessions.js';
import { OAuthTokens } from '../oauth/tokens.js';
import type { Principal } from './principal.js';

/** The credential a request presented, before it is checked against the store. */
export type PresentedCredential = { kind: 'bearer'; value: string } | { kind: 'cookie'; value: string } | null;

/**
 * Turns a request's credentials into a Principal. A bearer token, when present, is the
 * only credential considered (a bad one is an error, never a fall-back to the cookie).
 * A session cookie counts only from our own origin: a browser sends it with cross-site
 * requests too (CSRF, cross-site WebSocket hijacking), but it always sends Origin.
 */
export class Authenticator {
  private readonly publicOrigin: string;

  constructor(
    private readonly deps: { sessions: LoginSessionService; tokens: ApiTokenService; oauthTokens: Pick<OAuthTokens, 'isLive'>; cookie: SessionCookie; publicUrl: string },
  ) {
    this.publicOrigin = new URL(deps.publicUrl).origin;
  }

  /** What the request carries; throws for a malformed Authorization header or a foreign Origin. */
  presented(headers: IncomingHttpHeaders, authorization?: unknown): PresentedCredential {
    const auth = authorization ?? headers.authorization;
    if (auth !== undefined) {
      const match = typeof auth === 'string' ? /^Bearer ([\x21-\x7e]+)$/.exec(auth) : null;
      if (!match) throw new UnauthenticatedError('malformed Authorization: expected "Bearer <token>"');
      return { kind: 'bearer', value: match[1]! };
    }
    const cookie = this.deps.cookie.read(headers);
    if (cookie === undefined) return null;
    const origin = headers.origin;
    if (origin !== undefined && origin !== this.publicOrigin) throw new ForbiddenError('cross-origin request with a session cookie refused');
    return { kind: 'cookie', value: cookie };
  }

  /** Is the credential behind a live connection still valid in the store? */
  isLive(credential: Principal['credential']): Promise<boolean> {
    if (credential.kind === 'integration') return Promise.resolve(false);
    if (credential.kind === 'oauth') return this.deps.oauthTokens.isLive(credential.id);
    return credential.kind === 'token' ? this.deps.tokens.isLive(credential.id) : this.deps.sessions.isLive(credential.id);
  }

  /**
   * The signed-in person behind a browser page request: its session cookie only (a page is
   * never opened with a bearer header), null when it carries none. Throws as `resolve` does
   * for an ended session, a foreign Origin or a store that cannot answer.
   */
  async browserPrincipal(headers: IncomingHttpHeaders): Promise<Principal | null> {
    const credential = this.presented(headers);
    return credential?.kind === 'cookie' ? this.resolve(credential) : null;
  }

  /** The principal behind a presented credential; null when none was presented. */
  async resolve(credential: PresentedCredential): Promise<Principal | null> {
    if (credential === null) return null;
    // RFC 8707: an OAuth access token's audience is one MCP endpoint, never this API.
    if (credential.kind === 'bearer' && OAuthTokens.isAccessToken(credential.value)) throw new UnauthenticatedError('an OAuth access token is valid only at the MCP endpoint it was issued for: use an API token here');
    const principal = credential.kind === 'bearer' ? await this.deps.tokens.resolve(credential.value) : await this.deps.sessions.resolve(credential.value);
    if (!principal) throw new UnauthenticatedError(credential.kind === 'bearer' ? 'invalid or expired API token' : 'invalid or expired session');
    return principal;
  }
}
