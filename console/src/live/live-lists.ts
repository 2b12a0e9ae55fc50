/**
 * Lists kept current by a subscription: the query gives the list as it was, each event
 * the new state of one item. An item that no longer belongs (a request no longer
 * pending, a grant no longer active) leaves the list; a new one that belongs joins it.
 * States only move forward (pending → decided, active → ended), so of two states of one
 * item the later one (higher `stage`) wins, whichever arrived last: a refetched list and
 * a stale event cannot undo a decision.
 */
export function mergeLive<T extends { id: string }>(
  base: readonly T[],
  updates: Iterable<T>,
  options: { belongs: (item: T) => boolean; compare: (a: T, b: T) => number; stage: (item: T) => number },
): T[] {
  const byId = new Map(base.map((item) => [item.id, item]));
  for (const item of updates) {
    const known = byId.get(item.id);
    if (!known || options.stage(item) >= options.stage(known)) byId.set(item.id, item);
  }
  return [...byId.values()].filter(options.belongs).sort(options.compare);
}

/** Newest first by an ISO time field. */
export function newestFirst<K extends string>(key: K) {
  return (a: Record<K, string>, b: Record<K, string>) => (a[key] < b[key] ? 1 : a[key] > b[key] ? -1 : 0);
}

/**
 * Live audit events in front of the events already shown (newest first), without
 * duplicates (a replay after a reconnect may repeat some), at most `limit` kept so a busy
 * log never grows the page without bound.
 */
export function prependEvents<T extends { id: string }>(shown: readonly T[], arriving: readonly T[], limit: number): T[] {
  const seen = new Set(shown.map((e) => e.id));
  const fresh: T[] = [];
  for (const event of arriving) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    fresh.push(event);
  }
  return [...fresh.reverse(), ...shown].slice(0, limit);
}
