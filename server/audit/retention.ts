import type { Clock } from '../clock.js';
import { PortcullisError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditLog, TrimPolicy } from './types.js';

const RETENTION_INTERVAL_MS = 60_000;

/**
 * Applies `audit.retention` periodically. Trimming is safe on any instance at any time:
 * the store records the new chain start in the same step as the removal. `held` names the
 * events export sinks have yet to send (export/unexported.ts), which the count keeps.
 */
export function startRetention(log: AuditLog, policy: { maxAgeDays?: number; maxEvents?: number }, clock: Clock, logger: Logger, held: () => Promise<string[]> = async () => []): () => void {
  // Only the count waits for sinks: age retention removes what is older, sent or not.
  const holds = policy.maxEvents === undefined ? async () => [] : held;
  const byAge = () => (policy.maxAgeDays === undefined ? undefined : clock.now() - policy.maxAgeDays * 86_400_000);
  const trim = async () => {
    const count: Pick<TrimPolicy, 'keep' | 'holdFrom'> = await holds().then(
      (holdFrom) => ({ keep: policy.maxEvents, holdFrom }),
      (error: unknown) => {
        // What the sinks have yet to send is unknown: this pass trims by age only.
        logger.warn({ err: error }, 'audit retention: export cursors unreadable; trimming by age only this time');
        return {};
      },
    );
    const before = byAge();
    return before === undefined && count.keep === undefined ? 0 : log.trim({ before, ...count });
  };
  const run = () =>
    trim()
      .then((removed) => removed > 0 && logger.info({ removed }, 'audit retention trimmed the log'))
      .catch((error: unknown) => logger.warn({ err: error }, 'audit retention failed; retrying later'));
  const timer = setInterval(() => void run(), RETENTION_INTERVAL_MS);
  timer.unref();
  void run();
  return () => clearInterval(timer);
}

/** What a log answers to a trim when retention is off: it keeps every event and starts at the genesis hash. */
export function retentionNotConfigured(): PortcullisError {
  return new PortcullisError('CONFIG_INVALID', 'audit.retention is not configured: the audit log is never trimmed');
}
