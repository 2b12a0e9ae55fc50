import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../../errors.js';

export interface RedisConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * A client that fails fast instead of queueing: with the offline queue off, a command
 * issued while Redis is unreachable is rejected at once, and `commandTimeout` bounds the
 * wait for one that was sent. Reconnection keeps going in the background.
 */
export function connectRedis(options: RedisConnectionOptions): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
    lazyConnect: false,
  });
  // Errors surface through the failed commands; without a listener ioredis prints them.
  client.on('error', () => {});
  return client;
}

/** Resolves once the client is ready, or rejects after the timeout. */
export function waitReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new StoreUnavailableError(`connect (no answer within ${timeoutMs} ms)`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Runs a store operation, turning every transport failure into StoreUnavailableError. */
export async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(operation, error);
  }
}

/**
 * A Lua script run by its SHA (EVALSHA), falling back to EVAL once when the server does
 * not know it yet (first use, or after a restart flushed the script cache).
 */
export function defineScript(lua: string): (redis: Redis, keys: string[], args: (string | number)[]) => Promise<unknown> {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
}
