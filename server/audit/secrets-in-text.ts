/**
 * Secrets inside string values, whatever key holds them: a shell command with an
 * `Authorization` header, a connection string with a password, a URL with a token in its
 * query, a pasted PEM key. Only the secret is replaced; the rest stays readable
 * (`curl -H 'Authorization: Bearer [REDACTED]'`, `postgres://admin:[REDACTED]@db/prod`).
 *
 * Every string of every audited call passes here, on the relay's hot path, so a string is
 * read by one regular expression (`SCAN`) that finds every place a rule may start; most
 * strings have none and cost that one search. No expression nests quantifiers, each
 * starts on a literal, a separator or a word's start (lookbehind), and a repetition is
 * either bounded or consumed by its match, so the work is linear in the text.
 */

export const REDACTED = '[REDACTED]';

/**
 * Where a rule may start, one group per rule:
 * 1. a PEM private key (RFC 7468 labels: `PRIVATE KEY`, `RSA`/`EC`/`OPENSSH`/`ENCRYPTED
 *    PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`), replaced whole, to its END line or, when the
 *    text was cut short, to the end; certificates and public keys stay;
 * 2. a URL's authority, where userinfo may hold a password (`USERINFO`);
 * 3. `:` or `=` after a name (`nameBefore`, judged by the key rule): a query parameter, an
 *    environment variable, a connection-string field, a header, YAML, JSON inside text;
 * 4. `--`, a command-line flag that may take its value after a space (`FLAG`);
 * 5. `-p`, `-u` or `-U` standing apart: a password only in the command of a program that
 *    reads it so (`PROGRAM_FLAGS`), elsewhere a port, a user or a directory;
 * 6. such a program's name (`PROGRAMS`), which the flags after it in its command belong to;
 * then secrets known by their shape, with what of them stays readable in groups 7-10:
 *    a JWT (header, payload, signature; a JWE's five parts), whole; tokens whose issuer
 *    prefixes them so that scanners find them (7: GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/
 *    `ghr_`/`github_pat_`, GitLab `glpat-`, Slack `xox?-`, OpenAI and Anthropic `sk-`,
 *    Stripe `sk_live_`/`rk_live_`, Google `AIza`); AWS key ids (8: `AKIA`/`ASIA` and
 *    exactly 16 capitals or digits, so `ASIA_PACIFIC_…` stays); ours (9:
 *    `<prefix>_<16-character id>_<43-character secret>`, server/identity/credentials.ts,
 *    with the prefixes of server/identity/api-tokens.ts `pcl`, login-sessions.ts `pcs`,
 *    server/oauth/tokens.ts `pco`/`pcr`: the id stays, as `tokenId` does); a `Bearer`
 *    credential anywhere (10), one that holds a digit or a token68 punctuation character,
 *    or is 20 characters long (`Bearer authentication` is prose).
 */
const SCAN =
  /(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|$))|(:\/\/)|([:=])|(--)|(-(?<![^\s"']-)[puU])|(?<![A-Za-z0-9_.-])(curl|sshpass|mysql[a-z]{0,6}|mariadb(?:-?[a-z]{1,6})?)(?![A-Za-z0-9_.-])|(?<![A-Za-z0-9_-])(?:eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_.-]*|(gh[pousr]_|github_pat_|glpat-|xox[abposr]-|sk-|[sr]k_(?:live|test)_|AIza)[A-Za-z0-9_-]{16,}|(A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9_-])|(pc[lors]_[A-Za-z0-9-]{16}_)[A-Za-z0-9-]{43}(?![A-Za-z0-9_-])|([Bb]earer[ \t]{1,4})(?=[A-Za-z0-9._~+/-]{0,512}[0-9._~+/-]|[A-Za-z0-9._~+/-]{20})[A-Za-z0-9._~+/-]{8,}={0,2})/g;

/** No shape above is shorter: a shorter string needs a separator or a flag to hold a secret. */
const SHORTEST_SHAPE = 14;
const SEPARATOR = /[:=]|-[-puU]/;

/** Userinfo after `://` (RFC 3986 §3.2.1): the user stays; a raw `@` in a password is common, so the last `@` before the path ends it. */
const USERINFO = /[^\s/?#@:"'<>]{0,256}:([^\s/?#"'<>]+)@/y;

/** A flag's name (`--password`); `--password=` is a name and `=`. */
const FLAG = /--([\p{L}\p{N}_.-]{1,126})/uy;

/**
 * What puts a flag's value apart from it: spaces (`--password hunter2`), or, in an argument
 * list written out (`["--password", "hunter2"]`), the quote closing the flag and a comma.
 * A value starting with `-` is the next flag (`psql --password --host h` prompts).
 */
const APART = /[ \t]{1,4}(?=[^\s-])|["'][ \t]{0,4},[ \t]{0,4}(?=["'])/y;

/**
 * The programs whose short flags carry a password: `sshpass -p hunter2`, `mysql -phunter2`
 * (MySQL's and MariaDB's clients take it only attached: `mysql -p shop` prompts, and
 * `shop` is a database), `curl -u admin:hunter2` (and `-U`, the proxy's user, and the long
 * `--user`, `--proxy-user`). The same flags are a port (`docker run -p 8080:80`,
 * `ssh -p 2222`), a user (`docker run -u 1000:1000`, `sudo -u`) or a directory elsewhere.
 */
export type Program = 'curl' | 'sshpass' | 'mysql';
const PROGRAMS = /^(?:(curl)|(sshpass)|mysql[a-z]{0,6}|mariadb(?:-?[a-z]{1,6})?)$/;

/** How much of a flag's value is secret: all of it, or what follows the user (`admin:[REDACTED]`). */
const WHOLE = 1;
const AFTER_USER = 2;
type Secrecy = typeof WHOLE | typeof AFTER_USER | undefined;

/** `user:password` (curl's `-u`): the password, to the quote the value opened with or to a blank. */
const USER_PASSWORD = /"[^\s:"]{0,256}:((?:[^"\\\n]|\\.)*)|'[^\s:']{0,256}:([^'\n]*)|[^\s:"']{0,256}:([^\s"']*)/y;

/**
 * The value after a credential's name, from the separator on: a quoted string (to its
 * closing quote, escapes included, or to the line's end when cut short), one quoted with
 * escaped quotes (`\"`, JSON inside a quoted shell argument: its own escaped quotes,
 * `\\\"`, do not end it), a word in brackets (`{s3cr3t}`), or a bare word up to a separator
 * (`&` of a query, `;` of a connection string or cookie, `,`, whitespace). Blanks (up to 64:
 * YAML and `.env` files align values), an HTTP authentication scheme (`Bearer [REDACTED]`)
 * and quotes stay. A value that opens an object, a list, a template or a comparison
 * (`{user: bob}`, `[a, b]`, `{{ x }}`, `[]`, `=`) is no value: the names inside it are
 * judged on their own.
 */
const VALUE =
  /([ \t]{0,64}(?:(?:bearer|basic|token|digest|negotiate|ntlm)[ \t]{1,4})?)(?:(")(?:[^"\\\n]|\\.)*("?)|(')(?:[^'\\\n]|\\.)*('?)|(\\")(?:[^"\\\n]|\\\\\\\\|\\\\\\"|\\[^"\n])*((?:\\")?)|(\\')(?:[^'\\\n]|\\\\\\\\|\\\\\\'|\\[^'\n])*((?:\\')?)|[({[](?=[^\s"'&;,<>:=(){}[\]]{1,512}[)}\]])[^\s"'&;,<>:=]{1,1024}|[^\s"'&;,<>=(){}[\]][^\s"'&;,<>(){}[\]]*)/iy;

/** Blanks allowed between a name and its separator, and between the separator and the value. */
const MAX_ALIGNMENT = 64;

/** Headers whose whole value is secret: each cookie in it, not only the first. */
const COOKIE_HEADER = /^(?:set-)?cookie$/i;

/**
 * Query parameters that hold a presigned URL's signature (S3 `X-Amz-Signature`, GCS
 * `X-Goog-Signature`, CloudFront's and GCS v2's `Signature`, Azure SAS `sig`): it grants
 * what the URL does until it expires. Only after `?` or `&`: elsewhere these are words.
 */
const QUERY_SIGNATURES: ReadonlySet<string> = new Set(['x-amz-signature', 'x-goog-signature', 'signature', 'sig']);

/** A YAML block scalar's header (`|`, `>-`, `|2`), alone on its line but for a comment; its lines follow, indented. */
const BLOCK_SCALAR = /[ \t]{1,64}[|>][1-9+-]{0,2}[ \t]{0,64}(?:#[^\r\n]*)?(?=\r?\n)/y;

/** Nothing after the `:` but a comment: a YAML value on the lines below. */
const VALUE_BELOW = /[ \t]{0,64}(?:#[^\r\n]*)?(?=\r?\n)/y;

/** A line below a key: its indentation, a sequence's `- `, what it holds. */
const LINE = /\r?\n([ \t]*)(-[ \t]{1,4})?([^\r\n]*)/y;

/** What a YAML line holds when it is a key (`user: bob`, `db:`) rather than a value. */
const YAML_KEY = /^[^\s#][^\r\n]*?:(?:[ \t]|$)/;

/** What one rule replaces: text[start, end) by `replacement`. */
interface Redaction {
  start: number;
  end: number;
  replacement: string;
}

/** What a scan knows besides the text: the key rule, and the program whose command it is in, checked for an end up to `checkedTo`. */
interface Scan {
  namesCredential: (name: string) => boolean;
  program: Program | undefined;
  checkedTo: number;
}

/**
 * `text` with the secrets this module recognises replaced; `namesCredential` judges a name
 * (redact.ts's key rule); `program`, when the text is one member of an argument vector,
 * is the program named before it (`programOf`).
 */
export function redactSecretsInText(text: string, namesCredential: (name: string) => boolean, program?: Program): string {
  if (text.length < SHORTEST_SHAPE && !SEPARATOR.test(text)) return text;
  const scan: Scan = { namesCredential, program, checkedTo: 0 };
  let redacted = '';
  let copied = 0;
  SCAN.lastIndex = 0;
  for (let found = SCAN.exec(text); found !== null; found = SCAN.exec(text)) {
    let redaction: Redaction | undefined;
    if (found[1] !== undefined) {
      redaction = { start: found.index, end: SCAN.lastIndex, replacement: REDACTED };
    } else if (found[2] !== undefined) {
      redaction = passwordOfUserinfo(text, SCAN.lastIndex);
    } else if (found[3] !== undefined) {
      redaction = valueOfNamed(text, found.index, scan);
    } else if (found[4] !== undefined) {
      redaction = valueOfLongFlag(text, found.index, scan);
    } else if (found[5] !== undefined) {
      redaction = valueOfShortFlag(text, found.index, scan);
    } else if (found[6] !== undefined) {
      scan.program = programOf(found[6]);
      scan.checkedTo = SCAN.lastIndex;
    } else {
      redaction = { start: found.index, end: SCAN.lastIndex, replacement: (found[7] ?? found[8] ?? found[9] ?? found[10] ?? '') + REDACTED };
    }
    if (redaction === undefined) continue; // Scanned on from here: a value that is no secret may hold one (`url: https://h/?token=t`).
    redacted += text.slice(copied, redaction.start) + redaction.replacement;
    copied = redaction.end;
    SCAN.lastIndex = redaction.end;
  }
  return copied === 0 ? text : redacted + text.slice(copied);
}

/** The program a word names (`curl`, `/usr/bin/sshpass`, `mysqldump`), if its flags may carry a password. */
export function programOf(word: string): Program | undefined {
  if (word.length > 256) return undefined;
  const name = PROGRAMS.exec(word.slice(word.lastIndexOf('/') + 1));
  if (name === null) return undefined;
  return name[1] !== undefined ? 'curl' : name[2] !== undefined ? 'sshpass' : 'mysql';
}

/**
 * The member after `flag` in an argument vector, redacted when the flag takes it as a
 * secret (`["--password", "hunter2"]`, `["sshpass", "-p", "hunter2"]`, `["curl", "-u",
 * "admin:hunter2"]`); undefined when it is to be read as text. `program` is the one named
 * before the flag in the vector.
 */
export function redactArgument(flag: string, argument: string, program: Program | undefined, namesCredential: (name: string) => boolean): string | undefined {
  if (!ARGUMENT_FLAG.test(flag) || argument.startsWith('-')) return undefined;
  const secrecy = secrecyOf(flag, false, program, namesCredential);
  if (secrecy === WHOLE) return REDACTED;
  const colon = secrecy === AFTER_USER ? argument.indexOf(':') : -1;
  return colon < 0 || colon === argument.length - 1 ? undefined : argument.slice(0, colon + 1) + REDACTED;
}

/** A whole member that is a flag: `--password`, `-p`, Go's and Java's single-dash `-token`. */
const ARGUMENT_FLAG = /^--?[\p{L}\p{N}_.-]{1,126}$/u;

/**
 * How much of a flag's value is secret: a long flag's (`--password`, `-token`) when its
 * name is a credential's, the user's password of curl's (`--user`), a short one's as its
 * program reads it (`PROGRAMS`); `attached` when the value follows with no blank (`-phunter2`).
 */
function secrecyOf(flag: string, attached: boolean, program: Program | undefined, namesCredential: (name: string) => boolean): Secrecy {
  if (flag.length > 2) {
    const name = flag.slice(flag.charCodeAt(1) === 45 ? 2 : 1);
    if (program === 'curl' && (name === 'user' || name === 'proxy-user')) return AFTER_USER;
    return namesCredential(name) ? WHOLE : undefined;
  }
  if (flag === '-p') return program === 'sshpass' || (program === 'mysql' && attached) ? WHOLE : undefined;
  return program === 'curl' && (flag === '-u' || flag === '-U') ? AFTER_USER : undefined;
}

/**
 * The program whose command `at` is in, if its command has not ended since it was named
 * (`;`, `|`, `&&`, a line break but a continued one, `\` before it, as commands copied from
 * documentation are; a lone `&` is a URL's more often than a background job's). The text is
 * read on from where the last call stopped, so each character once.
 */
function programAt(text: string, at: number, scan: Scan): Program | undefined {
  for (let i = scan.checkedTo; i < at && scan.program !== undefined; i++) {
    const code = text.charCodeAt(i);
    if ((code === 10 && !continued(text, i)) || code === 59 || code === 124 || (code === 38 && text.charCodeAt(i + 1) === 38)) scan.program = undefined;
  }
  scan.checkedTo = Math.max(scan.checkedTo, at);
  return scan.program;
}

/** Whether the line break at `i` is escaped (`\` before it, or before its `\r`): the command goes on. */
function continued(text: string, i: number): boolean {
  const before = text.charCodeAt(i - 1) === 13 ? i - 2 : i - 1;
  return text.charCodeAt(before) === 92;
}

/** A flag's value from `start`: all of it, or the password after its user. */
function valueAt(text: string, start: number, secrecy: Secrecy): Redaction | undefined {
  if (secrecy === WHOLE) return quotedValue(text, start);
  if (secrecy === AFTER_USER) return passwordAfterUser(text, start);
  return undefined;
}

/** The value at `start` (`VALUE`), replaced but for its quotes and scheme. */
function quotedValue(text: string, start: number): Redaction | undefined {
  VALUE.lastIndex = start;
  const value = VALUE.exec(text);
  if (value === null) return undefined;
  const [, kept = '', doubleQuote, doubleClosed, singleQuote, singleClosed, escapedDouble, escapedDoubleClosed, escapedSingle, escapedSingleClosed] = value;
  const opened = doubleQuote ?? singleQuote ?? escapedDouble ?? escapedSingle ?? '';
  const closed = doubleClosed || singleClosed || escapedDoubleClosed || escapedSingleClosed || '';
  return { start, end: VALUE.lastIndex, replacement: kept + opened + REDACTED + closed };
}

/** `user:password` at `start`: the password, if there is one. */
function passwordAfterUser(text: string, start: number): Redaction | undefined {
  USER_PASSWORD.lastIndex = start;
  const found = USER_PASSWORD.exec(text);
  const password = found?.[1] ?? found?.[2] ?? found?.[3];
  if (!password) return undefined;
  return { start: USER_PASSWORD.lastIndex - password.length, end: USER_PASSWORD.lastIndex, replacement: REDACTED };
}

/** The password of a URL's userinfo, after the `://` that ends at `at`. */
function passwordOfUserinfo(text: string, at: number): Redaction | undefined {
  USERINFO.lastIndex = at;
  const password = USERINFO.exec(text)?.[1];
  if (password === undefined) return undefined;
  const end = USERINFO.lastIndex - 1;
  return { start: end - password.length, end, replacement: REDACTED };
}

/**
 * The value after the separator at `at`, if the name before it is a credential's, a
 * password flag's (`--password=`, curl's `--user=`) or a presigned URL's signature
 * parameter. Cookie headers and YAML keys have values of their own shapes.
 */
function valueOfNamed(text: string, at: number, scan: Scan): Redaction | undefined {
  const name = nameBefore(text, at);
  if (name === undefined) return undefined;
  const separator = text.charCodeAt(at);
  const before = text.charCodeAt(name.start - 1);
  if (separator === 61 && (before === 63 || before === 38 || before === 59) && QUERY_SIGNATURES.has(name.text.toLowerCase())) return quotedValue(text, at + 1);
  const secrecy = name.text.charCodeAt(0) === 45 ? secrecyOf(name.text, true, programAt(text, at, scan), scan.namesCredential) : scan.namesCredential(name.text) ? WHOLE : undefined;
  if (secrecy !== WHOLE || separator === 61) return valueAt(text, at + 1, secrecy);
  if (COOKIE_HEADER.test(name.text)) return cookies(text, at + 1, before === 34 || before === 39 ? before : -1) ?? quotedValue(text, at + 1);
  const column = keyColumn(text, name.start);
  return (column >= 0 ? valueBelow(text, at + 1, column) : undefined) ?? quotedValue(text, at + 1);
}

/**
 * A Cookie or Set-Cookie header's value from `start`, every cookie of it: to the end of the
 * line, or to the quote the header was opened with (`-H 'Cookie: a=1; b=2'`). A quoted
 * value (`"Cookie": "a=1; b=2"`) is left to `VALUE`.
 */
function cookies(text: string, start: number, quote: number): Redaction | undefined {
  let from = start;
  while (from < text.length && from - start < MAX_ALIGNMENT && (text.charCodeAt(from) === 32 || text.charCodeAt(from) === 9)) from++;
  const first = text.charCodeAt(from);
  if (first === 34 || first === 39) return undefined;
  let end = from;
  for (let code = text.charCodeAt(end); end < text.length && code !== 10 && code !== 13 && code !== quote; code = text.charCodeAt(end)) end += code === 92 ? 2 : 1;
  end = Math.min(end, text.length);
  return end === from ? undefined : { start: from, end, replacement: REDACTED };
}

/**
 * A YAML key's value that starts on the lines below its `:` at `start`, the key being at
 * `column` of its line: a block scalar's lines (`password: |`), replaced whole, or the
 * scalars below the key, each line's (`password:` then `  hunter2`; `api_keys:` then
 * `  - k-one`). Lines indented no deeper than the key, a blank line (but inside a block
 * scalar) or a key (`user: bob`: a mapping, whose names are judged on their own) end it.
 */
function valueBelow(text: string, start: number, column: number): Redaction | undefined {
  BLOCK_SCALAR.lastIndex = start;
  if (BLOCK_SCALAR.test(text)) {
    const indicator = start + text.slice(start, BLOCK_SCALAR.lastIndex).search(/[|>]/);
    let end = -1;
    LINE.lastIndex = BLOCK_SCALAR.lastIndex;
    for (let line = LINE.exec(text); line !== null; line = LINE.exec(text)) {
      const [, indentation = '', item = '', content = ''] = line;
      if (content.trim() === '' && item === '') continue; // A blank line inside the block.
      if (indentation.length <= column) break;
      end = LINE.lastIndex;
    }
    return end < 0 ? undefined : { start: indicator, end, replacement: REDACTED };
  }
  VALUE_BELOW.lastIndex = start;
  if (!VALUE_BELOW.test(text)) return undefined;
  let replacement = '';
  let end = -1;
  const from = VALUE_BELOW.lastIndex;
  LINE.lastIndex = from;
  for (let line = LINE.exec(text); line !== null; line = LINE.exec(text)) {
    const [whole, indentation = '', item = '', content = ''] = line;
    const deeper = item === '' ? indentation.length > column : indentation.length >= column;
    if (!deeper || content.trim() === '' || content.startsWith('#') || YAML_KEY.test(content)) break;
    replacement += whole.slice(0, whole.length - content.length) + REDACTED;
    end = LINE.lastIndex;
  }
  return end < 0 ? undefined : { start: from, end, replacement };
}

/**
 * The column of a YAML key starting at `start` (its quote included), if it begins its
 * line, past blanks and a sequence's `- `; else -1 (`if password:` is code, not a key).
 */
function keyColumn(text: string, start: number): number {
  let key = start;
  const quote = text.charCodeAt(key - 1);
  if (quote === 34 || quote === 39) key--;
  let i = key;
  while (i > 0 && (text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) i--;
  if (i > 0 && text.charCodeAt(i - 1) === 45 && i < key) {
    i--;
    while (i > 0 && (text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) i--;
  }
  if (i > 0 && text.charCodeAt(i - 1) !== 10) return -1;
  return key - i;
}

/** The value of the long flag at `at`, if it is a credential's and stands apart (after a blank, or quoted in a written-out list). */
function valueOfLongFlag(text: string, at: number, scan: Scan): Redaction | undefined {
  if (at > 0 && !isBlank(text.charCodeAt(at - 1)) && !isQuote(text.charCodeAt(at - 1))) return undefined;
  FLAG.lastIndex = at;
  if (FLAG.exec(text) === null) return undefined;
  const flagEnd = FLAG.lastIndex;
  APART.lastIndex = flagEnd;
  if (!APART.test(text)) return undefined;
  return valueAt(text, APART.lastIndex, secrecyOf(text.slice(at, flagEnd), false, programAt(text, at, scan), scan.namesCredential));
}

/** The value of `-p`, `-u` or `-U` at `at`, apart or attached (`-phunter2`, `-p'two words'`), as the command's program reads it. */
function valueOfShortFlag(text: string, at: number, scan: Scan): Redaction | undefined {
  const program = programAt(text, at, scan);
  if (program === undefined) return undefined;
  APART.lastIndex = at + 2;
  const apart = APART.test(text);
  const start = apart ? APART.lastIndex : at + 2;
  if (!apart && (start >= text.length || isBlank(text.charCodeAt(start)))) return undefined;
  return valueAt(text, start, secrecyOf(text.slice(at, at + 2), !apart, program, scan.namesCredential));
}

/**
 * The name before a separator at `at` and where it starts, past up to 64 blanks and a
 * closing quote, escaped or not (`"password": `, `\"password\":`): letters, digits, `_`,
 * `.`, `-` and any other character that is not ASCII or a space (a look-alike letter is
 * judged as the letter it imitates). Each run of name characters and blanks is read back
 * from the one separator after it, so this stays linear.
 */
function nameBefore(text: string, at: number): { text: string; start: number } | undefined {
  let end = at;
  while (end > 0 && at - end < MAX_ALIGNMENT && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  if (end > 0 && isQuote(text.charCodeAt(end - 1))) {
    end--;
    if (end > 0 && text.charCodeAt(end - 1) === 92) end--;
  }
  let start = end;
  while (start > 0 && isNameChar(text.charCodeAt(start - 1))) start--;
  return start === end ? undefined : { text: text.slice(start, end), start };
}

function isNameChar(code: number): boolean {
  if (code >= 128) return !isBlank(code);
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95 || code === 46 || code === 45;
}

function isQuote(code: number): boolean {
  return code === 34 || code === 39;
}

function isBlank(code: number): boolean {
  return code <= 32 || (code >= 128 && BLANK.test(String.fromCharCode(code)));
}

const BLANK = /\s/;
