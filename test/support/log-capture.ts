import { Writable } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import { createLogger, logScrubber } from '../../server/log.js';
import type { Logger } from '../../server/log.js';
import type { SecretScrubber } from '../../server/text/secret-scrubber.js';

export interface CapturedLogs {
  logger: Logger;
  /** The scrubber the logger was made with, to share as the broker shares it. */
  scrubber: SecretScrubber;
  /** Every line written, as written (after scrubbing). */
  lines: string[];
}

/** A real logger (the broker's own) writing into memory, scrubbing `secrets`. */
export function captureLogs(options: { level?: LevelWithSilent; secrets?: Iterable<string>; traceIds?: boolean } = {}): CapturedLogs {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const scrubber = logScrubber(options.secrets);
  return { logger: createLogger({ level: options.level ?? 'trace', scrubber, destination, traceIds: options.traceIds ?? false }), scrubber, lines };
}
