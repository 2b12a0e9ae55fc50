import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';
import { SecretScrubber } from './text/secret-scrubber.js';
import { activeTraceIds } from './tracing/spans.js';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line. */
const SECRET_KEYS = ['authorization', 'cookie', 'password', 'token', 'secret', 'SAMLResponse', 'samlResponse', 'assertion', 'env', 'headers'];

/**
 * pino (fast-redact) paths for those keys at the top and two levels down: `*.x` does not
 * match a top-level `x`, and an error's own properties sit one level below `err`
 * (`err.headers`, `err.response.headers` of an HTTP client error).
 */
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** Values shorter than this are not scrubbed by value: they would mangle ordinary text. */
const MIN_SCRUB_LENGTH = 4;

/** The scrubber for log lines: the logger and the stdio upstream's stderr share one. */
export function logScrubber(secrets: Iterable<string> = []): SecretScrubber {
  return new SecretScrubber(secrets, { minLength: MIN_SCRUB_LENGTH });
}

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Configured secret values, scrubbed from every line whatever key holds them (see logScrubber). */
  scrubber?: SecretScrubber;
  destination?: DestinationStream;
  /** Adds `trace_id` and `span_id` to lines written inside a span (observability.tracing on). */
  traceIds?: boolean;
}

/**
 * Structured JSON logs. Two layers keep secrets out: key-based redaction for the places
 * secrets are known to live, and a last pass that replaces every configured secret
 * value in the serialized line (raw and JSON-escaped), for the places nobody foresaw,
 * such as an error message that quotes a header.
 */
export function createLogger(options: LoggerOptions): Logger {
  const scrubber = options.scrubber;
  return pino(
    {
      level: options.level,
      base: { service: 'portcullis' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: !scrubber || scrubber.empty ? {} : { streamWrite: (line) => scrubber.scrub(line) },
      ...(options.traceIds ? { mixin: traceFields } : {}),
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

const NO_FIELDS = {};

function traceFields(): object {
  const ids = activeTraceIds();
  return ids ? { trace_id: ids.traceId, span_id: ids.spanId } : NO_FIELDS;
}
