import { emailKey } from '../identity/email-key.js';
import type { DirectoryEntry } from './types.js';

/**
 * How long a sign-in keeps a user in the directory (both backends expire entries then): a
 * directory entry is only what an IdP asserted at that sign-in, so an old one is not taken as
 * who someone is, nor as the groups they hold (Slack decisions ask for a more recent one
 * still: `reviewerSignInMaxAgeSeconds`, at most this).
 */
export const DIRECTORY_ENTRY_MAX_AGE_MS = 30 * 86_400_000;

/** Whether an entry seen at `lastSeenAt` still counts at `now`. */
export function isFresh(lastSeenAt: number, now: number): boolean {
  return now - lastSeenAt < DIRECTORY_ENTRY_MAX_AGE_MS;
}

/**
 * The reads of the user directory, the same on every backend: the index only proposes
 * entries, the stored record decides (an index entry may be stale after a user's email or
 * groups changed, or they were dropped, or it expired), most recently seen first.
 */
export function withEmail(candidates: readonly (DirectoryEntry | null)[], email: string, now: number): DirectoryEntry[] {
  const wanted = emailKey(email);
  return newestFirst(candidates.filter((entry): entry is DirectoryEntry => entry !== null && isFresh(entry.lastSeenAt, now) && emailKey(entry.user.email) === wanted));
}

export function inAnyGroup(candidates: readonly (DirectoryEntry | null)[], groups: readonly string[], limit: number, now: number): DirectoryEntry[] {
  const wanted = new Set(groups);
  return newestFirst(candidates.filter((entry): entry is DirectoryEntry => entry !== null && isFresh(entry.lastSeenAt, now) && entry.user.groups.some((g) => wanted.has(g)))).slice(0, limit);
}

function newestFirst(entries: DirectoryEntry[]): DirectoryEntry[] {
  return entries.sort((a, b) => b.lastSeenAt - a.lastSeenAt || a.user.id.localeCompare(b.user.id));
}
