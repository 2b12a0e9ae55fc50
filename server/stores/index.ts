import { resolve } from 'node:path';
import { createRedactor } from '../audit/redact.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { createEmbeddedStores } from './embedded/index.js';
import { createRedisStores } from './redis/index.js';
import type { Stores } from './types.js';

/** Redis when the config names one, the embedded single-instance store otherwise. */
export async function createStores(config: Pick<PortcullisConfig, 'store' | 'audit'>, options: { clock: Clock; baseDir: string }): Promise<Stores> {
  const redact = createRedactor(config.audit.redactKeys);
  if (config.store.redis) return createRedisStores({ ...config.store.redis, clock: options.clock, redact });
  return createEmbeddedStores({ dataDir: resolve(options.baseDir, config.store.dataDir), clock: options.clock, redact });
}

export type { Stores } from './types.js';
