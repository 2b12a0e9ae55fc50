import { createHash, timingSafeEqual } from 'node:crypto';

/** The hash each JWS algorithm family implies (OpenID Connect Core §3.1.3.6; EdDSA with Ed25519: SHA-512). */
const HASH_OF_ALG: Record<string, string> = {
  RS256: 'sha256', PS256: 'sha256', ES256: 'sha256',
  RS384: 'sha384', PS384: 'sha384', ES384: 'sha384',
  RS512: 'sha512', PS512: 'sha512', ES512: 'sha512',
  Ed25519: 'sha512', EdDSA: 'sha512',
};

/**
 * Whether an ID token's `at_hash` (when it has one) names this access token: the left half
 * of the token's hash, base64url (Core §3.1.3.8). openid-client leaves it unchecked in the
 * code flow; a mismatch means the token response was put together from two issuances.
 */
export function atHashMatches(idToken: string, atHash: unknown, accessToken: string): boolean {
  if (atHash === undefined) return true;
  if (typeof atHash !== 'string') return false;
  let alg: unknown;
  try {
    alg = (JSON.parse(Buffer.from(idToken.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown }).alg;
  } catch {
    return false;
  }
  const hash = typeof alg === 'string' ? HASH_OF_ALG[alg] : undefined;
  if (!hash) return false;
  const digest = createHash(hash).update(accessToken, 'ascii').digest();
  const expected = Buffer.from(digest.subarray(0, digest.length / 2).toString('base64url'));
  const actual = Buffer.from(atHash);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
