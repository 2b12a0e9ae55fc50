/**
 * A set of keys with the time each was last used, bounded by forgetting the least recently
 * used one: a person's (or a role's) known tools, servers and clients. Plain JSON.
 */
export interface RecencySet {
  size: number;
  last: Record<string, number>;
}

export function recencySet(): RecencySet {
  return { size: 0, last: {} };
}

/** Records a use of `key` at `at`; true when the set did not know it. */
export function touch(set: RecencySet, key: string, at: number, max: number): boolean {
  const known = set.last[key] !== undefined;
  set.last[key] = at;
  if (known) return false;
  if (++set.size > max) forgetOldest(set);
  return true;
}

/** Forgets the keys not used since `since` (what is left is what a window saw). */
export function forgetBefore(set: RecencySet, since: number): void {
  for (const key in set.last) {
    if (set.last[key]! < since) {
      delete set.last[key];
      set.size--;
    }
  }
}

/** The most recently used keys first (for an explanation: what was known instead). */
export function recentKeys(set: RecencySet, count: number): string[] {
  return Object.entries(set.last)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key]) => key);
}

/** A linear scan, only when a new key overflows the set (never on a known key's use). */
function forgetOldest(set: RecencySet): void {
  let oldest: string | undefined;
  let oldestAt = Infinity;
  for (const key in set.last) {
    const at = set.last[key]!;
    if (at < oldestAt) {
      oldestAt = at;
      oldest = key;
    }
  }
  if (oldest !== undefined) {
    delete set.last[oldest];
    set.size--;
  }
}
