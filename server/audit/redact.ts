/**
 * The one redaction policy for audit data, applied to every event before it is written:
 * values under keys that name a credential are replaced, at any depth. A key counts when,
 * lower-cased and stripped of separators, it ends in one of the words below or in one of
 * the configured extra keys (`audit.redactKeys`): `apiKey`, `x-api-key`, `access_token`,
 * `upstreamToken` and `Authorization` are redacted; `tokenId` and `sessionId` are not.
 */
const SECRET_WORDS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'authorization', 'cookie', 'credential', 'credentials', 'privatekey', 'samlresponse', 'assertion'];
const REDACTED = '[REDACTED]';
const MAX_DEPTH = 8;

/**
 * Redacts a value the caller owns (admit-event.ts passes its own parse of the event data):
 * objects and arrays are changed in place, and the value, or what replaces it, returned.
 */
export type Redactor = (value: unknown) => unknown;

/**
 * Key verdicts remembered per redactor: keys repeat on every call (`params`, `arguments`,
 * `name`...). Bounded in number and in length, as keys come from clients: a client's
 * megabyte-long key is judged every time, never kept.
 */
const MAX_REMEMBERED_KEYS = 4096;
const MAX_REMEMBERED_KEY_CHARS = 64;

/** Whether a key names a credential (the rule above, with `extraKeys` added). */
export function credentialKeyRule(extraKeys: readonly string[] = []): (key: string) => boolean {
  const words = [...SECRET_WORDS, ...extraKeys.map(normalize)];
  return (key) => {
    const k = normalize(key);
    return words.some((word) => k.endsWith(word));
  };
}

export function createRedactor(extraKeys: readonly string[] = []): Redactor {
  const rule = credentialKeyRule(extraKeys);
  const remembered = new Map<string, boolean>();
  const isSecret = (key: string): boolean => {
    let secret = remembered.get(key);
    if (secret === undefined) {
      secret = rule(key);
      if (key.length <= MAX_REMEMBERED_KEY_CHARS && remembered.size < MAX_REMEMBERED_KEYS) remembered.set(key, secret);
    }
    return secret;
  };
  const walk = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return '[…]';
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = walk(value[i], depth + 1);
      return value;
    }
    const object = value as Record<string, unknown>;
    for (const key in object) {
      const member = object[key];
      const replaced = isSecret(key) ? REDACTED : walk(member, depth + 1);
      // Defined, not assigned: a member named `__proto__` (JSON.parse makes it an own
      // property) would otherwise set the object's prototype.
      if (replaced !== member) Object.defineProperty(object, key, { value: replaced, writable: true, enumerable: true, configurable: true });
    }
    return object;
  };
  return (value) => walk(value, 0);
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}
