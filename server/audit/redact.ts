import { foldLookAlikes } from './fold-look-alikes.js';
import { type Program, programOf, REDACTED, redactArgument, redactSecretsInText } from './secrets-in-text.js';

/**
 * The one redaction policy for audit data, applied to every event before it is written:
 * values under keys that name a credential are replaced, at any depth, as is the `value` of
 * a `{ name, value }` pair whose name does, and the secrets inside strings
 * (secrets-in-text.ts; a string holding JSON is walked like any object). Secrets must never
 * reach the hash-chained log or its exporters, so the rule fails closed: a credential word
 * counts wherever it stands in the key and in the plural (`aws_secret_access_key`,
 * `passwordConfirmation`, `apiKeys`, `DB_PASS`, `GITHUB_PAT`), and only a key whose last
 * word says it describes a credential rather than holds one stays readable (`tokenId`,
 * `token_type`, `secretName`, `passwordPolicy`, `token_expires_at`), as do LLM token counts
 * (`max_tokens`). The configured extra keys (`audit.redactKeys`) count anywhere too, with
 * no exception: the operator named them. Keys are read as they look (fold-look-alikes.ts):
 * `ｐａｓｓｗｏｒｄ` and a `pаssword` with a Cyrillic `а` are passwords.
 */

/**
 * Words found anywhere in the key, case and separators ignored (`dbpassword`, `x-api-key`,
 * `clientSecretValue`, `privateKeyPem`, `set-cookie`, `tokens`): long and specific enough
 * not to occur inside ordinary words (`token`, but not in `tokenizer` or `tokenization`,
 * which are about text). `secret` covers `secret_key`; the `…key` words are the keys that
 * are secret (`accessKey`, `signingKey`), unlike `publicKey` or a bare `key` (which a
 * key-value tool's arguments are full of); `connectionstring`, `mnemonic` and `seedphrase`
 * carry a password or a wallet's key; `verifier` is OAuth's (a PKCE `code_verifier`, RFC
 * 7636 §4.1, redeems the code it goes with; OAuth 1.0a's `oauth_verifier` alike).
 */
const CREDENTIAL_WORDS =
  /password|passwd|passphrase|passcode|pwd|secret|token(?!i[sz])|apikey|accesskey|privatekey|signingkey|encryptionkey|decryptionkey|masterkey|sessionkey|sharedkey|accountkey|clientkey|hmackey|sshkey|authkey|appkey|licensekey|deploykey|authorization|bearer|jwt|cookie|credential|connectionstring|mnemonic|seedphrase|samlresponse|assertion|verifier/;

/**
 * Short words, a credential only as a whole word of the key (`DB_PASS`, `githubPat`,
 * `smtp.pw`, `auth`, a Docker config's `auths`, `privKey`), never inside one: `path`,
 * `pattern`, `compatibility`, `passage`, `author`, `spinner` and `privileged` are not credentials.
 */
const CREDENTIAL_SEGMENTS: ReadonlySet<string> = new Set(['pass', 'pw', 'pat', 'pats', 'pin', 'otp', 'totp', 'hotp', 'psk', 'dsn', 'auth', 'auths', 'cred', 'creds', 'priv']);

/**
 * `pass` and `pw` also end a word run together with what they protect (`DBPASS`,
 * `SMTPPASS`, slapd's `rootpw`), except in these English words.
 */
const PASS_ENDING = /(?:pass|pw)$/;
const ENGLISH_PASS_WORDS: ReadonlySet<string> = new Set(['bypass', 'compass', 'encompass', 'overpass', 'underpass', 'surpass', 'trespass']);

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

const MAX_DEPTH = 8;

/**
 * A pair that names what it holds (`env: [{ name: 'AWS_SECRET_ACCESS_KEY', value }]`,
 * `headers: [{ name: 'Authorization', value }]`, AWS's `{ Key, Value }`): when a label
 * names a credential by the key rule, the values beside it are redacted.
 */
const PAIR_LABELS = ['name', 'Name', 'key', 'Key', 'header', 'Header'] as const;
const PAIR_VALUES: ReadonlySet<string> = new Set(['value', 'Value', 'values', 'val', 'data']);

/**
 * A string holding a JSON object or array (a request body, a tool's JSON argument) is
 * parsed and walked like any object, up to this size; a longer one is only scanned as text.
 */
const MAX_EMBEDDED_JSON_CHARS = 64 * 1024;

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
  const extras = extraKeys.map((key) => normalize(foldLookAlikes(key)));
  return (raw) => {
    const key = foldLookAlikes(raw);
    const whole = normalize(key);
    if (extras.some((word) => whole.includes(word))) return true;
    // Most keys hold no credential word even as a substring: judged without splitting.
    if (!ANY_CREDENTIAL_WORD.test(whole)) return false;
    const words = wordsOf(key);
    if (METADATA_SEGMENTS.has(words.at(-1) ?? '')) return false;
    if (words.some((word) => CREDENTIAL_SEGMENTS.has(word) || (PASS_ENDING.test(word) && !ENGLISH_PASS_WORDS.has(word)))) return true;
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
  // Replacements made so far: a string holding JSON is serialised again only if its walk changed something.
  let changes = 0;
  // A pair's label is a key in all but place (a tool's or a variable's name: `tools/call`
  // params hold one on every call), remembered as keys are; a name found in free text is
  // judged each time (secrets-in-text.ts), as text holds a new one at every separator.
  const labelsCredential = (object: Record<string, unknown>): boolean => {
    for (const label of PAIR_LABELS) {
      const name = object[label];
      if (typeof name === 'string' && isSecret(name)) return true;
    }
    return false;
  };
  const text = (value: string, depth: number, program?: Program): string => {
    const embedded = embeddedJson(value);
    if (embedded !== undefined) {
      const before = changes;
      const walked = walk(embedded, depth + 1);
      // What lies too deep is cut (`[…]`), as in any object: its escaped names could not be judged as text.
      return changes === before && walked === embedded ? value : JSON.stringify(walked);
    }
    return redactSecretsInText(value, rule, program);
  };
  // A string in an array may be an argument of a command (`execFile`'s, a container's
  // `command`): the flag before it may make it a secret (`["--password", "hunter2"]`,
  // `["sshpass", "-p", "hunter2"]`), and the program named before it says how its own
  // flags read (`["mysql", "-phunter2"]`).
  const argument = (member: string, previous: unknown, program: Program | undefined, depth: number): string =>
    (typeof previous === 'string' ? redactArgument(previous, member, program, rule) : undefined) ?? text(member, depth + 1, program);
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return text(value, depth);
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return '[…]';
    if (Array.isArray(value)) {
      let program: Program | undefined;
      let previous: unknown;
      for (let i = 0; i < value.length; i++) {
        const member: unknown = value[i];
        let replaced: unknown;
        if (typeof member === 'string') {
          // Judged by the members as they were: the one before may be redacted already.
          replaced = argument(member, previous, program, depth);
          program = programOf(member) ?? program;
        } else {
          replaced = walk(member, depth + 1);
        }
        previous = member;
        if (replaced !== member) {
          value[i] = replaced;
          changes++;
        }
      }
      return value;
    }
    const object = value as Record<string, unknown>;
    const labelled = labelsCredential(object);
    for (const key in object) {
      const member = object[key];
      const replaced = isSecret(key) || (labelled && PAIR_VALUES.has(key)) ? REDACTED : walk(member, depth + 1);
      if (replaced === member) continue;
      // Defined, not assigned: a member named `__proto__` (JSON.parse makes it an own
      // property) would otherwise set the object's prototype.
      Object.defineProperty(object, key, { value: replaced, writable: true, enumerable: true, configurable: true });
      changes++;
    }
    return object;
  };
  return (value) => walk(value, 0);
}

/**
 * The object or array a string holds as JSON, if it does (and is short enough to parse on
 * the hot path). Its first and last characters are checked first, so text in brackets
 * (`[INFO] …`, `{name}`) costs no failed parse.
 */
function embeddedJson(value: string): object | undefined {
  const first = value.charCodeAt(0);
  if (first !== 123 && first !== 91 && !(first <= 32)) return undefined;
  let last = value.length - 1;
  while (last > 0 && value.charCodeAt(last) <= 32) last--;
  const closing = value.charCodeAt(last);
  if ((closing !== 125 && closing !== 93) || value.length > MAX_EMBEDDED_JSON_CHARS || !JSON_OPENING.test(value)) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** How a JSON object (`{` then `"` or `}`) or array (`[` then a value or `]`) opens. */
const JSON_OPENING = /^\s*(?:\{\s*["}]|\[\s*[-"\d{[\]tfn])/;

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
