import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Opaque bearer credentials: `<prefix>_<id>_<secret>`. The id finds the record in O(1);
 * only SHA-256 of the secret is stored, compared in constant time. The prefix lets
 * secret scanners recognise a leaked token.
 */
export interface IssuedCredential {
  id: string;
  secretHash: string;
  /** The whole credential, shown once. */
  value: string;
}

const PART = /^[A-Za-z0-9-]+$/;

export function issueCredential(prefix: string): IssuedCredential {
  // base64url without '_' so the separator stays unambiguous.
  const id = randomBytes(12).toString('base64url').replaceAll('_', '-');
  const secret = randomBytes(32).toString('base64url').replaceAll('_', '-');
  return { id, secretHash: hashSecret(secret), value: `${prefix}_${id}_${secret}` };
}

export function parseCredential(prefix: string, value: string): { id: string; secret: string } | null {
  if (value.length > 200) return null;
  const parts = value.split('_');
  if (parts.length !== 3 || parts[0] !== prefix) return null;
  const [, id, secret] = parts as [string, string, string];
  return PART.test(id) && PART.test(secret) ? { id, secret } : null;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
