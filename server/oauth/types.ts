/**
 * What the OAuth authorization server keeps in the shared store. Codes are keyed by their
 * SHA-256; tokens are `<prefix>_<id>_<secret>` (server/identity/credentials.ts), kept by
 * id with only the secret's SHA-256: the store never holds a value a client could present
 * (a dump of Redis or of the data directory redeems nothing).
 */
import type { UserIdentity } from '../stores/types.js';

/** How a client came to be known: registered (RFC 7591) or named by its metadata document's URL. */
export type ClientRegistration = 'dcr' | 'cimd';

export interface OAuthClientRecord {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  registration: ClientRegistration;
  createdAt: number;
  expiresAt: number;
}

/** One authorization, approved by a signed-in person: the facts the code exchange must match. */
export interface AuthorizationCodeRecord {
  clientId: string;
  redirectUri: string;
  /** The S256 code challenge (RFC 7636 §4.2). */
  challenge: string;
  resource: string;
  scope: string;
  user: UserIdentity;
  /** The browser sign-in that approved it: signing out ends every token of the authorization. */
  loginSessionId: string;
  /** When that sign-in ends: no token of this authorization outlives it. */
  sessionExpiresAt: number;
  /** Set on the record kept after the code was redeemed: the family a replay of the code revokes. */
  redeemedInto?: string;
  expiresAt: number;
}

/**
 * The tokens issued from one authorization code, through every refresh: revoking the
 * family (a revoked or replayed refresh token) ends all of them at once.
 */
export interface TokenFamilyRecord {
  id: string;
  clientId: string;
  clientName: string;
  resource: string;
  scope: string;
  user: UserIdentity;
  /** The family's access tokens that may still be live, so revocation can reach them. */
  accessTokens: { id: string; expiresAt: number }[];
  /** The browser sign-in that approved it: the family lives only while it does. */
  loginSessionId: string;
  /** When the code was exchanged. Absent on families issued before it was recorded. */
  createdAt?: number;
  /** The family's bound: the sign-in session's end, capped by `oauth.refreshTokenMaxSeconds`. */
  expiresAt: number;
}

export interface AccessTokenRecord {
  /** The token's public part (audit, credential watch). */
  id: string;
  secretHash: string;
  familyId: string;
  clientId: string;
  clientName: string;
  /** The one resource (RFC 8707) this token may be used at. */
  resource: string;
  scope: string;
  user: UserIdentity;
  issuedAt: number;
  expiresAt: number;
  /** When its family (the authorization) ends: an MCP session opened with the token lives until then, through refreshes. */
  familyExpiresAt: number;
}

export interface RefreshTokenRecord {
  secretHash: string;
  familyId: string;
  clientId: string;
  /** Set once the token was exchanged: presenting it again is a replay, and ends the family. */
  rotated: boolean;
  expiresAt: number;
}

/** A person's standing approval of a client for one resource and scope. */
export interface ConsentRecord {
  grantedAt: number;
  expiresAt: number;
}
