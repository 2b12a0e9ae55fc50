/**
 * Every Redis key name comes from here, so the layout works on a single Redis, behind
 * Sentinel, and on a Cluster alike. A Cluster runs a script, a MULTI or a pipeline only
 * when all of its keys hash to one slot, and Redis hashes only the part of a key inside
 * its first `{...}` when there is one (the hash tag). So keys that one operation touches
 * together share a tag: `${prefix}{tag}:part:part`. The tag names the group (one store,
 * or one IdP's SCIM resources), never a value an outsider picks alone. The prefix may not
 * hold braces (the config refuses them): its own tag would put every key in one slot.
 *
 * Keys that are only ever touched one at a time (rate-limit counters, consumed SAML
 * assertion ids, OAuth tokens, lease groups) take no tag: each lands where its whole name
 * hashes, which spreads them over the cluster. docs/redis.md lists every key.
 */
export type KeyNamer = (...parts: string[]) => string;

/** Names for one group of keys that operations may touch together (one hash slot). */
export function slotKeys(prefix: string, tag: string): KeyNamer {
  return (...parts) => [`${prefix}{${tag}}`, ...parts].join(':');
}

/** Names for keys touched one at a time: no tag, so they spread over a cluster's slots. */
export function looseKeys(prefix: string, kind: string): KeyNamer {
  return (...parts) => [`${prefix}${kind}`, ...parts].join(':');
}

/** Braces in the prefix would make it the hash tag of every key (see above). */
export function checkKeyPrefix(prefix: string): string | null {
  return /[{}]/.test(prefix) ? 'the key prefix may not contain { or } (Redis would hash every key by it: one Cluster slot for everything)' : null;
}
