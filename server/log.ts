import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values never reach a log line, wherever they appear (pino fast-redact
 * paths; `*` matches one level).
 */
const REDACT_PATHS = [
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.token',
  '*.secret',
  '*.SAMLResponse',
  '*.samlResponse',
  '*.assertion',
  '*.env',
  '*.headers',
];

/** Values shorter than this are not scrubbed by value: they would mangle ordinary text. */
const MIN_SCRUB_LENGTH = 4;

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Values resolved from ${env:...}/${file:...}: scrubbed from every line, whatever key holds them. */
  secrets?: ReadonlySet<string>;
  destination?: DestinationStream;
}

/**
 * Structured JSON logs. Two layers keep secrets out: key-based redaction for the places
 * secrets are known to live, and a last pass that replaces every configured secret
 * value in the serialized line (raw and JSON-escaped), for the places nobody foresaw,
 * such as an error message that quotes a header.
 */
export function createLogger(options: LoggerOptions): Logger {
  const needles = [...(options.secrets ?? [])]
    .filter((s) => s.length >= MIN_SCRUB_LENGTH)
    .flatMap((s) => [s, JSON.stringify(s).slice(1, -1)])
    .filter((s, i, all) => all.indexOf(s) === i)
    // Longest first, so a secret containing another is replaced whole.
    .sort((a, b) => b.length - a.length);
  return pino(
    {
      level: options.level,
      base: { service: 'portcullis' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: needles.length === 0 ? {} : { streamWrite: (line) => scrub(line, needles) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

function scrub(line: string, needles: readonly string[]): string {
  let out = line;
  for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join('[REDACTED]');
  return out;
}
