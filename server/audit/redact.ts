/**
 * The one redaction policy for audit data, applied to every event before it is written:
 * values under keys that name a credential are replaced, at any depth. Secrets must never
 * reach the hash-chained log or its exporters, so the rule fails closed: a credential word
 * counts wherever it stands in the key and in the plural (`aws_secret_access_key`,
 * `passwordConfirmation`, `apiKeys`, `DB_PASS`, `GITHUB_PAT`), and only a key whose last
 * word says it describes a credential rather than holds one stays readable (`tokenId`,
 * `token_type`, `secretName`, `passwordPolicy`, `token_expires_at`), as do LLM token counts
 * (`max_tokens`). The configured extra keys (`audit.redactKeys`) count anywhere too, with
 * no exception: the operator named them.
 */

/**
 * Words found anywhere in the key, case and separators ignored (`dbpassword`, `x-api-key`,
 * `clientSecretValue`, `privateKeyPem`, `set-cookie`, `tokens`): long and specific enough
 * not to occur inside ordinary words (`token`, but not in `tokenizer` or `tokenization`,
 * which are about text). `secret` covers `secret_key`; the `…key` words are the keys that
 * are secret (`accessKey`, `signingKey`), unlike `publicKey` or a bare `key` (which a
 * key-value tool's arguments are full of); `connectionstring`, `mnemonic` and `seedphrase`
 * carry a password or a wallet's key.
 */
const CREDENTIAL_WORDS =
  /password|passwd|passphrase|passcode|pwd|secret|token(?!i[sz])|apikey|accesskey|privatekey|signingkey|encryptionkey|decryptionkey|masterkey|sessionkey|sharedkey|accountkey|clientkey|hmackey|sshkey|authkey|appkey|licensekey|deploykey|authorization|bearer|jwt|cookie|credential|connectionstring|mnemonic|seedphrase|samlresponse|assertion/;

/**
 * Short words, a credential only as a whole word of the key (`DB_PASS`, `githubPat`,
 * `smtp.pw`, `auth`, a Docker config's `auths`), never inside one: `path`, `pattern`,
 * `compatibility`, `passage`, `bypass`, `author` and `spinner` are not credentials.
 */
const CREDENTIAL_SEGMENTS: ReadonlySet<string> = new Set(['pass', 'pw', 'pat', 'pats', 'pin', 'otp', 'totp', 'hotp', 'psk', 'dsn', 'auth', 'auths', 'cred', 'creds']);

/**
 * A key whose last word is one of these describes a credential (which one, what kind, how
 * big, how long it lives, where it is kept, under what rules) and does not hold it, so the
 * log keeps it readable: `tokenId`, `access_key_id`, `token_type`, `secret_name`,
 * `privateKeyPath`, `passwordPolicy`, `accessTokenTtlSeconds`, `token_expires_at` (`…_at`
 * is a timestamp). What lies inside such a key is still judged. `hint`, `hash`, `prefix`,
 * `file` and `url` are left out on purpose: each can hold the secret or enough of it (a
 * password hint, a crackable hash, a token's first characters, a file's contents, a URL
 * with credentials in it).
 */
const METADATA_SEGMENTS: ReadonlySet<string> = new Set([
  'id', 'ids', 'uuid', 'guid', 'arn', 'name', 'names', 'path', 'type', 'types', 'kind', 'scope', 'scopes', 'format', 'version', 'method', 'scheme', 'mode', 'provider', 'policy',
  'enabled', 'required', 'count', 'counts', 'length', 'len', 'size', 'bytes', 'capacity', 'limit', 'max', 'min',
  'ttl', 'exp', 'expiry', 'expires', 'expiration', 'lifetime', 'duration', 'age', 'timeout', 'ms', 'seconds', 'minutes', 'hours', 'days', 'at',
]);

/**
 * "Token" is also the unit LLMs count text in, and counts of it are common tool arguments:
 * in a key with the word `tokens` and one of these words (`max_tokens`, `maxOutputTokens`,
 * `max_new_tokens`, `prompt_tokens`, `tokens_used`), `tokens` is that count, not a
 * credential word. `new` and `cached` are left out: `new_tokens` and `cached_tokens` may
 * hold credentials just issued or kept.
 */
const TOKEN_COUNT_WORDS: ReadonlySet<string> = new Set(['max', 'min', 'num', 'total', 'count', 'limit', 'used', 'remaining', 'budget', 'prompt', 'completion', 'input', 'output', 'reasoning']);

/** Either kind of word, as a substring of the normalised key: without one, no key is a credential. */
const ANY_CREDENTIAL_WORD = new RegExp(`${CREDENTIAL_WORDS.source}|${[...CREDENTIAL_SEGMENTS].join('|')}`);

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
  const extras = extraKeys.map(normalize);
  return (key) => {
    const whole = normalize(key);
    if (extras.some((word) => whole.includes(word))) return true;
    // Most keys hold no credential word even as a substring: judged without splitting.
    if (!ANY_CREDENTIAL_WORD.test(whole)) return false;
    const words = wordsOf(key);
    if (METADATA_SEGMENTS.has(words.at(-1) ?? '')) return false;
    if (words.some((word) => CREDENTIAL_SEGMENTS.has(word))) return true;
    const counted = words.includes('tokens') && words.some((word) => TOKEN_COUNT_WORDS.has(word));
    return CREDENTIAL_WORDS.test(counted ? whole.replaceAll('tokens', '') : whole);
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

/** Lower-cased, all but ASCII letters and digits dropped: where words are looked for anywhere. */
function normalize(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * The words of a key, lower-cased, however it is spelt: snake_case, kebab-case, dotted,
 * UPPER_CASE, camelCase and acronyms (`GitHubPAT`, `PATToken`, `APIKey`), letters apart
 * from digits (`DB_PASS2`); anything else separates words. One pass over the characters:
 * a key comes from a client and may be a megabyte long (a split by lookbehind regular
 * expressions took over a second on one).
 */
function wordsOf(key: string): string[] {
  const words: string[] = [];
  let start = 0;
  let previous = OTHER;
  for (let i = 0; i <= key.length; i++) {
    const kind = i < key.length ? classOf(key.charCodeAt(i)) : OTHER;
    const camel = kind === UPPER && (previous === LOWER || (previous === UPPER && classOf(key.charCodeAt(i + 1)) === LOWER));
    const startsWord = camel || (kind === DIGIT) !== (previous === DIGIT);
    if ((kind === OTHER || startsWord) && i > start) words.push(key.slice(start, i).toLowerCase());
    if (kind === OTHER) start = i + 1;
    else if (startsWord) start = i;
    previous = kind;
  }
  return words;
}

const LOWER = 0;
const UPPER = 1;
const DIGIT = 2;
const OTHER = 3;

function classOf(code: number): number {
  if (code >= 97 && code <= 122) return LOWER;
  if (code >= 65 && code <= 90) return UPPER;
  return code >= 48 && code <= 57 ? DIGIT : OTHER;
}
