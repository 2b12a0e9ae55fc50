import type { DirectoryEntry } from './types.js';

/**
 * The reads of the user directory, the same on every backend: the index only proposes
 * entries, the stored record decides (an index entry may be stale after a user's email or
 * groups changed, or they were dropped), most recently seen first.
 */
export function withEmail(candidates: readonly (DirectoryEntry | null)[], email: string): DirectoryEntry[] {
  const wanted = email.toLowerCase();
  return newestFirst(candidates.filter((entry): entry is DirectoryEntry => entry !== null && entry.user.email.toLowerCase() === wanted));
}

export function inAnyGroup(candidates: readonly (DirectoryEntry | null)[], groups: readonly string[], limit: number): DirectoryEntry[] {
  const wanted = new Set(groups);
  return newestFirst(candidates.filter((entry): entry is DirectoryEntry => entry !== null && entry.user.groups.some((g) => wanted.has(g)))).slice(0, limit);
}

function newestFirst(entries: DirectoryEntry[]): DirectoryEntry[] {
  return entries.sort((a, b) => b.lastSeenAt - a.lastSeenAt || a.user.id.localeCompare(b.user.id));
}
