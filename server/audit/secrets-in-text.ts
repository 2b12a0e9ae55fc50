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
 * then secrets known by their shape, with what of them stays readable in groups 5-8:
 *    a JWT (header, payload, signature; a JWE's five parts), whole; tokens whose issuer
 *    prefixes them so that scanners find them (5: GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/
 *    `ghr_`/`github_pat_`, GitLab `glpat-`, Slack `xox?-`, OpenAI and Anthropic `sk-`,
 *    Stripe `sk_live_`/`rk_live_`, Google `AIza`); AWS key ids (6: `AKIA`/`ASIA` and
 *    exactly 16 capitals or digits, so `ASIA_PACIFIC_…` stays); ours (7:
 *    `<prefix>_<16-character id>_<43-character secret>`, server/identity/credentials.ts,
 *    with the prefixes of server/identity/api-tokens.ts `pcl`, login-sessions.ts `pcs`,
 *    server/oauth/tokens.ts `pco`/`pcr`: the id stays, as `tokenId` does); a `Bearer`
 *    credential anywhere (8), one that holds a digit or a token68 punctuation character,
 *    or is 20 characters long (`Bearer authentication` is prose).
 */
const SCAN =
  /(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|$))|(:\/\/)|([:=])|(--)|(?<![A-Za-z0-9_-])(?:eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_.-]*|(gh[pousr]_|github_pat_|glpat-|xox[abposr]-|sk-|[sr]k_(?:live|test)_|AIza)[A-Za-z0-9_-]{16,}|(A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9_-])|(pc[lors]_[A-Za-z0-9-]{16}_)[A-Za-z0-9-]{43}(?![A-Za-z0-9_-])|([Bb]earer[ \t]{1,4})(?=[A-Za-z0-9._~+/-]{0,512}[0-9._~+/-]|[A-Za-z0-9._~+/-]{20})[A-Za-z0-9._~+/-]{8,}={0,2})/g;

/** No shape above is shorter: a shorter string needs a separator to hold a secret. */
const SHORTEST_SHAPE = 14;
const SEPARATOR = /[:=]|--/;

/** Userinfo after `://` (RFC 3986 §3.2.1): the user stays; a raw `@` in a password is common, so the last `@` before the path ends it. */
const USERINFO = /[^\s/?#@:"'<>]{0,256}:([^\s/?#"'<>]+)@/y;

/** A flag and the spaces before its value (`--password hunter2`); `--password=` is a name and `=`. */
const FLAG = /--([\p{L}\p{N}_.-]{1,126})[ \t]{1,4}(?=[^\s-])/uy;

/**
 * The value after a credential's name, from the separator on: a quoted string (to its
 * closing quote, escapes included, or to the line's end when cut short), or a bare word
 * up to a separator (`&` of a query, `;` of a connection string or cookie, `,`,
 * whitespace). Spaces, an HTTP authentication scheme (`Bearer [REDACTED]`) and quotes stay.
 * A value that opens an object, a list or a comparison (`{`, `[`, `(`, `=`) is no value:
 * the names inside it are judged on their own.
 */
const VALUE = /([ \t]{0,4}(?:(?:bearer|basic|token|digest|negotiate|ntlm)[ \t]{1,4})?)(?:(")(?:[^"\\\n]|\\.)*("?)|(')(?:[^'\\\n]|\\.)*('?)|[^\s"'&;,<>=(){}[\]][^\s"'&;,<>(){}[\]]*)/iy;

/** `text` with the secrets this module recognises replaced; `namesCredential` judges a name (redact.ts's key rule). */
export function redactSecretsInText(text: string, namesCredential: (name: string) => boolean): string {
  if (text.length < SHORTEST_SHAPE && !SEPARATOR.test(text)) return text;
  let redacted = '';
  let copied = 0;
  SCAN.lastIndex = 0;
  for (let found = SCAN.exec(text); found !== null; found = SCAN.exec(text)) {
    // What to replace: text[start, end) by `replacement`, if anything.
    let start = found.index;
    let end = SCAN.lastIndex;
    let replacement: string | undefined;
    if (found[1] !== undefined) {
      replacement = REDACTED;
    } else if (found[2] !== undefined) {
      USERINFO.lastIndex = end;
      const password = USERINFO.exec(text)?.[1];
      if (password !== undefined) {
        end = USERINFO.lastIndex - 1;
        start = end - password.length;
        replacement = REDACTED;
      }
    } else if (found[3] !== undefined || found[4] !== undefined) {
      start = found[3] !== undefined ? valueOfNamed(text, start, namesCredential) : valueOfFlag(text, start, namesCredential);
      VALUE.lastIndex = start;
      const value = start < 0 ? null : VALUE.exec(text);
      if (value !== null) {
        const [, kept = '', doubleQuote, doubleClosed, singleQuote, singleClosed] = value;
        end = VALUE.lastIndex;
        replacement = kept + (doubleQuote ?? singleQuote ?? '') + REDACTED + (doubleClosed || singleClosed || '');
      }
    } else {
      replacement = (found[5] ?? found[6] ?? found[7] ?? found[8] ?? '') + REDACTED;
    }
    if (replacement === undefined) continue; // Scanned on from here: a value that is no secret may hold one (`url: https://h/?token=t`).
    redacted += text.slice(copied, start) + replacement;
    copied = end;
    SCAN.lastIndex = end;
  }
  return copied === 0 ? text : redacted + text.slice(copied);
}

/** Where the value after the separator at `at` starts, if the name before it is a credential's; else -1. */
function valueOfNamed(text: string, at: number, namesCredential: (name: string) => boolean): number {
  const name = nameBefore(text, at);
  return name !== undefined && namesCredential(name) ? at + 1 : -1;
}

/** Where the value of the flag at `at` starts, if it is a credential's and stands apart; else -1. */
function valueOfFlag(text: string, at: number, namesCredential: (name: string) => boolean): number {
  if (at > 0 && !isBlank(text.charCodeAt(at - 1))) return -1;
  FLAG.lastIndex = at;
  const flag = FLAG.exec(text);
  return flag !== null && namesCredential(flag[1]!) ? FLAG.lastIndex : -1;
}

/**
 * The name before a separator at `at`, past up to four spaces and a closing quote
 * (`"password": `): letters, digits, `_`, `.`, `-` and any other character that is not
 * ASCII or a space (a look-alike letter is judged as the letter it imitates). Each run of
 * name characters is read back from the one separator after it, so this stays linear.
 */
function nameBefore(text: string, at: number): string | undefined {
  let end = at;
  while (end > 0 && at - end < 4 && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  if (end > 0 && (text.charCodeAt(end - 1) === 34 || text.charCodeAt(end - 1) === 39)) end--;
  let start = end;
  while (start > 0 && isNameChar(text.charCodeAt(start - 1))) start--;
  return start === end ? undefined : text.slice(start, end);
}

function isNameChar(code: number): boolean {
  if (code >= 128) return !isBlank(code);
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95 || code === 46 || code === 45;
}

function isBlank(code: number): boolean {
  return code <= 32 || (code >= 128 && BLANK.test(String.fromCharCode(code)));
}

const BLANK = /\s/;
