import type { Clock } from '../../clock.js';
import type { LeaseStore } from '../types.js';
import { defineScript, execChecked, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { looseKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

/**
 * A group is a sorted set of lease ids scored by expiresAt (judged on the caller's clock,
 * as every expiry in these stores). Counting and adding happen in one script, so racing
 * instances can never hold more than the limit.
 * KEYS: group. ARGV: now, id, limit, expiresAt.
 */
const acquireLease = defineScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
local longest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, longest - tonumber(ARGV[1])))
return 1
`);


export class RedisLeaseStore implements LeaseStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
  ) {
    this.key = looseKeys(prefix, 'lease');
  }

  /** One key per group, touched alone: no tag, so groups spread over a cluster. */
  private readonly key: KeyNamer;

  async acquire(group: string, id: string, limit: number, expiresAt: number): Promise<boolean> {
    const taken = await guarded('lease acquire', () => acquireLease(this.redis, [this.key(group)], [this.clock.now(), id, limit, expiresAt]));
    return taken === 1;
  }

  async renew(group: string, ids: readonly string[], expiresAt: number): Promise<void> {
    if (ids.length === 0) return;
    const key = this.key(group);
    const ttl = Math.max(1, expiresAt - this.clock.now());
    // Plain ZADD: a lease that lapsed while the store was out of reach comes back (see LeaseStore.renew).
    await guarded('lease renew', () =>
      execChecked(
        this.redis
          .multi()
          .zadd(key, ...ids.flatMap((id) => [expiresAt, id]))
          .pexpire(key, ttl, 'GT')
          .pexpire(key, ttl, 'NX'),
      ),
    );
  }

  async release(group: string, id: string): Promise<void> {
    await guarded('lease release', () => this.redis.zrem(this.key(group), id));
  }
}
