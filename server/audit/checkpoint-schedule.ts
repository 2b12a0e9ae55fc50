import type { Logger } from '../log.js';
import type { AuditLog } from './types.js';

/**
 * Applies `audit.checkpoints`: every interval the log seals what this instance appended
 * since its last checkpoint (or, idle, that it is still there), and once more at shutdown,
 * stating it is the last, so a cleanly stopped broker leaves nothing unsealed. Returns that
 * last step. With several instances, each seals its own.
 */
export function startCheckpoints(log: AuditLog, intervalSeconds: number, logger: Logger): () => Promise<void> {
  const run = (final = false) =>
    log
      .checkpoint({ final })
      .then((event) => event && logger.debug({ cursor: event.id }, 'audit checkpoint written'))
      .catch((error: unknown) => logger.warn({ err: error }, 'audit checkpoint failed; retrying at the next interval'));
  const timer = setInterval(() => void run(), intervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await run(true);
  };
}
