import type { RedisClient } from './connection.js';
import type { Clock } from '../../clock.js';
import type { TokenFamilyRecord } from '../../oauth/types.js';
import { oldestFamilyFirst, TOKEN_FAMILIES_PER_USER, TOO_MANY_FAMILIES } from '../types.js';
import type { OAuthStores, TokenFamilyStore } from '../types.js';
import { RedisBoundedRecords, RedisJsonRecords } from './identity-stores.js';
import { looseKeys } from './keys.js';

/**
 * Families at `${prefix}{oauth-family}:record:ID`, each user's index (score: the family's
 * expiresAt) at `${prefix}{oauth-family}:user:USER`, written and taken with the family in
 * one script and expiring with the longest-lived of them.
 */
class RedisTokenFamilies extends RedisBoundedRecords<TokenFamilyRecord> implements TokenFamilyStore {
  constructor(redis: RedisClient, clock: Clock, prefix: string) {
    super(redis, clock, prefix, 'oauth-family', TOKEN_FAMILIES_PER_USER, { indexOf: (family, k) => k('user', family.user.id), fullMessage: TOO_MANY_FAMILIES });
  }

  async listByUser(userId: string): Promise<TokenFamilyRecord[]> {
    return (await this.liveIn(this.k('user', userId))).sort(oldestFamilyFirst);
  }
}

/** OAuth state shared by every instance: each record a JSON value with its TTL, set in one command. */
export function redisOAuthStores(redis: RedisClient, clock: Clock, prefix: string, capacity: number): OAuthStores {
  const records = <T extends { expiresAt: number }>(kind: string) => new RedisJsonRecords<T>(redis, clock, looseKeys(prefix, `oauth-${kind}`));
  return {
    clients: new RedisBoundedRecords(redis, clock, prefix, 'oauth-client', capacity),
    codes: new RedisBoundedRecords(redis, clock, prefix, 'oauth-code', capacity),
    families: new RedisTokenFamilies(redis, clock, prefix),
    accessTokens: records('access-token'),
    refreshTokens: records('refresh-token'),
    consents: records('consent'),
  };
}
