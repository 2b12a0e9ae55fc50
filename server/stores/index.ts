import { resolve } from 'node:path';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { createEmbeddedStores } from './embedded/index.js';
import { createRedisStores } from './redis/index.js';
import type { Stores } from './types.js';

/** Redis when the config names one, the embedded single-instance store otherwise. */
export async function createStores(config: PortcullisConfig['store'], options: { clock: Clock; baseDir: string }): Promise<Stores> {
  if (config.redis) return createRedisStores({ ...config.redis, clock: options.clock });
  return createEmbeddedStores({ dataDir: resolve(options.baseDir, config.dataDir), clock: options.clock });
}

export type { Stores } from './types.js';
