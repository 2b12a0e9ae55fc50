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

/**
 * A set's keys oldest use first, kept beside the JSON (never stored) once the set has had
 * to forget: forgetting then takes what it forgets from the front instead of scanning every
 * key, which the breadth rule did on each new argument value of a full set. Equal times stay
 * in the order `last` enumerates them (a key used again moves to its end; integer-like keys,
 * which JavaScript lists first, are the exception the order is sorted again for), so an
 * order rebuilt from a set read back from the store forgets exactly what this one would.
 */
interface UseOrder {
  keys: Map<string, number>;
  newest: number;
}

const orders = new WeakMap<RecencySet, UseOrder>();
/** Array indices (ECMAScript: canonical numeric strings below 2^32 - 1), which objects list first: a superset here only costs a re-sort. */
const INTEGER_LIKE = /^(?:0|[1-9]\d{0,9})$/;

/** Records a use of `key` at `at`; true when the set did not know it. */
export function touch(set: RecencySet, key: string, at: number, max: number): boolean {
  // Own members only: a client named `constructor` is as new as any other.
  const known = Object.hasOwn(set.last, key);
  // Moved to the end, so `last` enumerates keys in the order of their last use, in memory and read back alike.
  if (known) delete set.last[key];
  // Assigning `__proto__` would set the prototype and store nothing: that one is defined (as JSON.parse does).
  if (key === '__proto__') Object.defineProperty(set.last, key, { value: at, writable: true, enumerable: true, configurable: true });
  else set.last[key] = at;
  const order = orders.get(set);
  if (order !== undefined) {
    if (at > order.newest || (at === order.newest && !INTEGER_LIKE.test(key))) {
      order.keys.delete(key);
      order.keys.set(key, at);
      order.newest = at;
    } else {
      // Earlier than the newest use (events of other brokers, a little out of time order), or an
      // integer-like key at the same time (listed before the others): sorted again when next needed.
      orders.delete(set);
    }
  }
  if (known) return false;
  if (++set.size > max) forgetOldest(set);
  return true;
}

/** Forgets the keys not used since `since` (what is left is what a window saw). */
export function forgetBefore(set: RecencySet, since: number): void {
  const { keys } = orderOf(set);
  for (const [key, at] of keys) {
    if (at >= since) return;
    forget(set, keys, key);
  }
}

/** The most recently used keys first (for an explanation: what was known instead). */
export function recentKeys(set: RecencySet, count: number): string[] {
  return Object.entries(set.last)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key]) => key);
}

/** The least recently used key (undefined when the set is empty). */
export function oldestKey(set: RecencySet): string | undefined {
  return orderOf(set).keys.keys().next().value;
}

/** Forgets `key`, for a caller that keeps something beside each key and so chooses what goes itself. */
export function forgetKey(set: RecencySet, key: string): void {
  if (Object.hasOwn(set.last, key)) forget(set, orderOf(set).keys, key);
}

function forgetOldest(set: RecencySet): void {
  const oldest = oldestKey(set);
  if (oldest !== undefined) forget(set, orderOf(set).keys, oldest);
}

function forget(set: RecencySet, keys: Map<string, number>, key: string): void {
  keys.delete(key);
  delete set.last[key];
  set.size--;
}

function orderOf(set: RecencySet): UseOrder {
  let order = orders.get(set);
  if (order === undefined) {
    // A stable sort: equal times keep the order `last` enumerates them in.
    const keys = new Map(Object.entries(set.last).sort((a, b) => a[1] - b[1]));
    order = { keys, newest: Math.max(-Infinity, ...keys.values()) };
    orders.set(set, order);
  }
  return order;
}
