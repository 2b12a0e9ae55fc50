import { resolve } from 'node:path';
import { createRedactor } from '../audit/redact.js';
import { AuditSigner } from '../audit/seal.js';
import type { AuditLogOptions } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { createEmbeddedStores } from './embedded/index.js';
import { createRedisStores } from './redis/index.js';
import type { Stores } from './types.js';

/** Redis when the config names one, the embedded single-instance store otherwise. */
export async function createStores(config: Pick<PortcullisConfig, 'store' | 'audit'>, options: { clock: Clock; baseDir: string }): Promise<Stores> {
  const redact = createRedactor(config.audit.redactKeys);
  const audit = auditLogOptions(config.audit);
  if (config.store.redis) return createRedisStores({ ...config.store.redis, clock: options.clock, redact, audit });
  return createEmbeddedStores({ dataDir: resolve(options.baseDir, config.store.dataDir), clock: options.clock, redact, audit });
}

/**
 * Waits for the store at start. One that does not answer (down, a refused password, a
 * certificate that does not verify) does not stop the broker: it refuses work and reports
 * not ready until the store answers, and the log says why.
 */
export async function awaitStoreAtStart(stores: Stores, logger: Logger): Promise<void> {
  await stores.waitReady().catch((error: unknown) => {
    if (!(error instanceof StoreUnavailableError)) throw error;
    logger.warn({ err: error }, 'store unreachable at start: refusing work and reporting not ready until it answers');
  });
}

/** What the audit log needs from `audit`: whether retention may anchor it, and the key that seals it. */
export function auditLogOptions(audit: Omit<PortcullisConfig['audit'], 'export'>): AuditLogOptions {
  const { retention, checkpoints } = audit;
  return {
    retention: retention !== undefined,
    checkpoints: checkpoints && { signer: new AuditSigner(checkpoints.privateKey), intervalMs: checkpoints.intervalSeconds * 1000 },
  };
}

export type { Stores } from './types.js';
