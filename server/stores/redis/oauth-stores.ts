import type { DurableWrite, RedisClient } from './connection.js';
import type { Clock } from '../../clock.js';
import { StoreFullError } from '../../errors.js';
import type { TokenFamilyRecord } from '../../oauth/types.js';
import { oldestFamilyFirst, TOKEN_FAMILIES_PER_USER, TOO_MANY_FAMILIES } from '../types.js';
import type { OAuthStores, TokenFamilyStore } from '../types.js';
import { defineScript, guarded } from './connection.js';
import { PUT_BOUNDED_LUA, RedisBoundedRecords, RedisJsonRecords } from './identity-stores.js';
import { looseKeys, slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

// Refuses a revoked id (its mark, valued with the time it is revoked until, is live on the
// caller's clock); then, as every bounded put, drops the index's expired members and adds
// the family unless its user already holds `capacity` live ones.
const putFamily = defineScript(`
local revoked = redis.call('GET', KEYS[3])
if revoked and tonumber(revoked) > tonumber(ARGV[1]) then return -1 end
${PUT_BOUNDED_LUA}`);

// Removes the family (and its index entry, when the caller knew its user) and marks its id
// revoked until the later of the family's end and ARGV[2], never shortening a mark.
const takeFamily = defineScript(`
local value = redis.call('GETDEL', KEYS[1])
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
local untilAt = tonumber(ARGV[2])
if value then untilAt = math.max(untilAt, tonumber(cjson.decode(value).expiresAt)) end
local marked = tonumber(redis.call('GET', KEYS[2]) or 0)
if untilAt > tonumber(ARGV[3]) and untilAt > marked then
  redis.call('SET', KEYS[2], string.format('%d', untilAt), 'PX', string.format('%d', untilAt - tonumber(ARGV[3])))
end
return value
`);

/**
 * Families at `${prefix}{oauth-family}:record:ID`, each user's index (score: the family's
 * expiresAt) at `${prefix}{oauth-family}:user:USER`, the mark of a revoked id at
 * `${prefix}{oauth-family}:revoked:ID` until the family would have ended. One slot: a put
 * checks the mark, counts and writes in one script, and a take removes and marks in one,
 * so no instance's write lands between another's revocation and its check.
 */
class RedisTokenFamilies implements TokenFamilyStore {
  private readonly k: KeyNamer;
  private readonly records: RedisJsonRecords<TokenFamilyRecord>;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    private readonly durable: DurableWrite,
  ) {
    this.k = slotKeys(prefix, 'oauth-family');
    this.records = new RedisJsonRecords(redis, clock, (id) => this.k('record', id));
  }

  async put(key: string, value: TokenFamilyRecord): Promise<boolean> {
    const args = [this.clock.now(), value.expiresAt, this.records.ttlMs(value.expiresAt), key, TOKEN_FAMILIES_PER_USER, JSON.stringify(value)];
    const stored = await guarded('oauth family put', () => putFamily(this.redis, [this.records.key(key), this.indexOf(value), this.k('revoked', key)], args));
    if (stored === 0) throw new StoreFullError(TOO_MANY_FAMILIES);
    return stored === 1;
  }

  get(key: string): Promise<TokenFamilyRecord | null> {
    return this.records.get(key);
  }

  /**
   * The family's index is named by its user, so the family is read first; one written
   * between that read and the script is taken all the same, and its index entry after.
   */
  async take(key: string, revokedUntil = 0): Promise<TokenFamilyRecord | null> {
    const current = await this.records.get(key);
    const keys = [this.records.key(key), this.k('revoked', key), ...(current ? [this.indexOf(current)] : [])];
    const raw = await guarded('oauth family take', () => this.durable(takeFamily, keys, [key, revokedUntil, this.clock.now()]));
    const taken = this.records.live(typeof raw === 'string' ? raw : null);
    if (taken && !current) await guarded('oauth family take', () => this.redis.zrem(this.indexOf(taken), key));
    return taken;
  }

  async listByUser(userId: string): Promise<TokenFamilyRecord[]> {
    const ids = await guarded('oauth family list', () => this.redis.zrangebyscore(this.k('user', userId), `(${this.clock.now()}`, '+inf'));
    return (await this.records.getMany(ids)).sort(oldestFamilyFirst);
  }

  private indexOf(family: TokenFamilyRecord): string {
    return this.k('user', family.user.id);
  }
}

/**
 * OAuth state shared by every instance: each record a JSON value with its TTL, set in one
 * command. `durable` runs what revokes: a family's take (and its revocation mark), a token's.
 */
export function redisOAuthStores(redis: RedisClient, clock: Clock, prefix: string, capacity: number, durable: DurableWrite): OAuthStores {
  const records = <T extends { expiresAt: number }>(kind: string) => new RedisJsonRecords<T>(redis, clock, looseKeys(prefix, `oauth-${kind}`), durable);
  return {
    clients: new RedisBoundedRecords(redis, clock, prefix, 'oauth-client', capacity),
    codes: new RedisBoundedRecords(redis, clock, prefix, 'oauth-code', capacity),
    families: new RedisTokenFamilies(redis, clock, prefix, durable),
    accessTokens: records('access-token'),
    refreshTokens: records('refresh-token'),
    consents: records('consent'),
  };
}
