import { createHash } from 'node:crypto';
import { Redis, ReplyError } from 'ioredis';
import { PortcullisError, StoreUnavailableError } from '../../errors.js';

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

/** Resolves once the client is ready; rejects after the timeout or when the signal aborts. */
export function waitReady(client: Redis, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onAbort = () => done(new StoreUnavailableError('connect (aborted)'));
    const timer = setTimeout(() => done(new StoreUnavailableError(`connect (no answer within ${timeoutMs} ms)`)), timeoutMs);
    client.once('ready', onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Error replies that mean "not now" (loading, failing over, read-only replica), not "wrong". */
const AVAILABILITY_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Runs a store operation, turning transport failures (closed connection, timeout) into
 * StoreUnavailableError. Redis's own error replies pass through: they are bugs or
 * tampering, not an outage, and must not be retried as one.
 */
export async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    if (error instanceof ReplyError && !AVAILABILITY_REPLIES.test((error as Error).message)) throw error;
    throw new StoreUnavailableError(operation, error);
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

/** GETDEL and exclusive XRANGE need 6.2, PEXPIRE NX/GT 7.0: older servers are refused up front. */
export const MIN_REDIS_VERSION = [7, 0] as const;

export async function requireRedisVersion(redis: Redis): Promise<void> {
  const info = await guarded('version check', () => redis.info('server'));
  const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  if (major < MIN_REDIS_VERSION[0] || (major === MIN_REDIS_VERSION[0] && minor < MIN_REDIS_VERSION[1])) {
    throw new PortcullisError('STORE_UNSUPPORTED', `Redis ${MIN_REDIS_VERSION.join('.')} or newer is required (found ${version ? `${major}.${minor}` : 'an unknown version'})`);
  }
}
