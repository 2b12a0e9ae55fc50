import { createHash, timingSafeEqual } from 'node:crypto';

/** The PKCE S256 transform (RFC 7636 §4.2): base64url(SHA-256(verifier)). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** String equality in time independent of where they differ (secrets, state, challenges). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * What the consent page and the terminal both show, so a person can tell that the
 * sign-in in the browser is the one their `portcullis login` started: `ABCD-EFGH`.
 */
export function confirmationCode(challenge: string): string {
  const digest = createHash('sha256').update(`portcullis-cli-login:${challenge}`).digest();
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const chars = [...digest.subarray(0, 8)].map((byte) => alphabet[byte % alphabet.length]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4).join('')}`;
}
