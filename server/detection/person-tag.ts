import { hash } from 'node:crypto';
import type { EntityState } from './types.js';

/** Base64url characters of a person's tag: 48 bits, so two people of one tool do not share one. */
const TAG_CHARS = 8;

/**
 * A short stable tag of a person: a tool's state tells people apart by it without naming
 * them, and stays small. Kept in the person's state once computed, so it is hashed once,
 * not on every call.
 */
export function tagOf(user: EntityState, email: string): string {
  return (user.tag ??= hash('sha256', email, 'base64url').slice(0, TAG_CHARS));
}
