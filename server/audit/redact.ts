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

export type Redactor = (value: unknown) => unknown;

/** Whether a key names a credential (the rule above, with `extraKeys` added). */
export function credentialKeyRule(extraKeys: readonly string[] = []): (key: string) => boolean {
  const words = [...SECRET_WORDS, ...extraKeys.map(normalize)];
  return (key) => {
    const k = normalize(key);
    return words.some((word) => k.endsWith(word));
  };
}

export function createRedactor(extraKeys: readonly string[] = []): Redactor {
  const isSecret = credentialKeyRule(extraKeys);
  const walk = (value: unknown, depth: number): unknown => {
    if (Array.isArray(value)) return depth >= MAX_DEPTH ? '[…]' : value.map((item) => walk(item, depth + 1));
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return '[…]';
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, isSecret(key) ? REDACTED : walk(v, depth + 1)]));
  };
  return (value) => walk(value, 0);
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}
