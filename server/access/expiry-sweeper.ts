import type { Logger } from '../log.js';
import type { AccessService } from './access-service.js';

/** How often time-driven transitions are recorded; effective status never waits for it. */
export const EXPIRY_SWEEP_INTERVAL_MS = 5_000;

/**
 * Runs AccessService.expireDue periodically so requests nobody looks at still become
 * EXPIRED and every grant's end is audited. Failures (store down) are logged and retried
 * on the next tick; queries show the effective status meanwhile.
 */
export function startExpirySweeper(access: AccessService, logger: Logger, intervalMs = EXPIRY_SWEEP_INTERVAL_MS): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = access
      .expireDue()
      .catch((error: unknown) => logger.warn({ err: error }, 'expiry sweep failed; retrying on the next tick'))
      .finally(() => (running = null));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
