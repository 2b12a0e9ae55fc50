import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import type { TokenFamilyRecord } from '../../oauth/types.js';
import { oldestFamilyFirst, TOKEN_FAMILIES_PER_USER, TOO_MANY_FAMILIES } from '../types.js';
import type { OAuthStores, TokenFamilyStore } from '../types.js';
import { RedisBoundedRecords, RedisJsonRecords } from './identity-stores.js';

/**
 * Families at `${prefix}oauth-family:ID`, each user's index (score: the family's
 * expiresAt) at `${prefix}oauth-families-of:USER`, written and taken with the family in
 * one script and expiring with the longest-lived of them.
 */
class RedisTokenFamilies extends RedisBoundedRecords<TokenFamilyRecord> implements TokenFamilyStore {
  constructor(
    redis: Redis,
    clock: Clock,
    private readonly prefix: string,
  ) {
    super(redis, clock, prefix, 'oauth-family', TOKEN_FAMILIES_PER_USER, { indexOf: (family) => familiesOf(prefix, family.user.id), fullMessage: TOO_MANY_FAMILIES });
  }

  async listByUser(userId: string): Promise<TokenFamilyRecord[]> {
    return (await this.liveIn(familiesOf(this.prefix, userId))).sort(oldestFamilyFirst);
  }
}

function familiesOf(prefix: string, userId: string): string {
  return `${prefix}oauth-families-of:${userId}`;
}

/** OAuth state shared by every instance: each record a JSON value with its TTL, set in one command. */
export function redisOAuthStores(redis: Redis, clock: Clock, prefix: string, capacity: number): OAuthStores {
  const records = <T extends { expiresAt: number }>(kind: string) => new RedisJsonRecords<T>(redis, clock, `${prefix}oauth-${kind}:`);
  return {
    clients: new RedisBoundedRecords(redis, clock, prefix, 'oauth-client', capacity),
    codes: new RedisBoundedRecords(redis, clock, prefix, 'oauth-code', capacity),
    families: new RedisTokenFamilies(redis, clock, prefix),
    accessTokens: records('access-token'),
    refreshTokens: records('refresh-token'),
    consents: records('consent'),
  };
}
