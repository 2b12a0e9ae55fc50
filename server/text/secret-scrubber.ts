const REDACTED = '[REDACTED]';

/**
 * Replaces known secret values in text: the last line of defence for logs and messages,
 * for the places nobody foresaw (an error quoting a header, a child process printing its
 * environment). Each secret is looked for as it is, JSON-escaped (inside a serialized log
 * line), and line by line when it spans several lines (a PEM key printed to stderr one
 * line at a time). Overlapping matches are replaced as one span, so no piece of either
 * secret survives.
 */
export class SecretScrubber {
  private readonly needles: readonly string[];
  /** The longest needle: text cut within this many characters of its end may hold a secret's beginning. */
  readonly longest: number;

  /**
   * `minLength`: shorter values are not looked for (in logs, a 3-character value would
   * mangle ordinary text; a config error is short and may be mangled rather than leak).
   */
  constructor(secrets: Iterable<string>, options: { minLength: number }) {
    const needles = new Set<string>();
    const add = (value: string) => {
      if (value.length < options.minLength) return;
      needles.add(value);
      needles.add(JSON.stringify(value).slice(1, -1));
    };
    for (const secret of secrets) {
      add(secret);
      for (const line of secret.split(/\r?\n/)) if (line !== secret) add(line.trim());
    }
    this.needles = [...needles];
    this.longest = Math.max(0, ...this.needles.map((n) => n.length));
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  /**
   * `text` with every secret replaced. With `maxLength`, only the first `maxLength`
   * characters of the original are kept (a secret that begins before the cut is replaced
   * whole), so cutting never leaves the start of a secret behind: callers cutting a long
   * line pass at least `maxLength + longest` characters of it.
   */
  scrub(text: string, maxLength = Infinity): string {
    const spans: [number, number][] = [];
    for (const needle of this.needles) {
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) spans.push([at, at + needle.length]);
    }
    const cut = Math.min(maxLength, text.length);
    if (spans.length === 0) return keepWhole(text, cut);
    spans.sort((a, b) => a[0] - b[0]);
    let out = '';
    let from = 0;
    for (const [start, end] of spans) {
      if (start >= cut) break;
      if (end <= from) continue;
      if (start >= from) out += text.slice(from, start) + REDACTED;
      from = end;
    }
    return from >= cut ? out : out + keepWhole(text.slice(from), cut - from);
  }
}

/** The first `length` characters, one fewer rather than half a surrogate pair. */
function keepWhole(text: string, length: number): string {
  if (length >= text.length) return text;
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}
