import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import type { OAuthStores } from '../types.js';
import { RedisBoundedRecords, RedisJsonRecords } from './identity-stores.js';

/** OAuth state shared by every instance: each record a JSON value with its TTL, set in one command. */
export function redisOAuthStores(redis: Redis, clock: Clock, prefix: string, capacity: number): OAuthStores {
  const records = <T extends { expiresAt: number }>(kind: string) => new RedisJsonRecords<T>(redis, clock, `${prefix}oauth-${kind}:`);
  return {
    clients: new RedisBoundedRecords(redis, clock, prefix, 'oauth-client', capacity),
    codes: new RedisBoundedRecords(redis, clock, prefix, 'oauth-code', capacity),
    families: records('family'),
    accessTokens: records('access-token'),
    refreshTokens: records('refresh-token'),
    consents: records('consent'),
  };
}
