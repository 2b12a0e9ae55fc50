import type { Clock } from '../../clock.js';
import { evictionRank, poolBudgets, poolOf } from '../../detection/entity-budgets.js';
import type { EntityPool } from '../../detection/entity-budgets.js';
import type { EntityState } from '../../detection/types.js';
import type { DetectorClaim, DetectorStateStore } from '../types.js';
import { defineScript, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

/**
 * Takes or renews the lease unless another holder's is live at `now`; answers the cursor.
 * KEYS: lease hash, cursor. ARGV: holder, now, expiresAt. Returns {1, cursor|nil} or {0}.
 */
export const claimLease = defineScript(`
local lease = redis.call('HMGET', KEYS[1], 'holder', 'expiresAt')
if lease[1] and lease[1] ~= ARGV[1] and tonumber(lease[2]) > tonumber(ARGV[2]) then return {0} end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'expiresAt', ARGV[3])
return {1, redis.call('GET', KEYS[2])}
`);

/** KEYS: lease hash. ARGV: holder. */
export const releaseLease = defineScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`);

/**
 * The fenced commit: only while ARGV holder holds a live lease, writes the cursor and every
 * entity (its key with a TTL, its score in the index), then drops each pool's lowest ranked
 * beyond its budget (detection/entity-budgets.ts). Tools score below zero and principals
 * above (scoreOf), so the pools sit apart in the one index: the tools are its first ZCOUNT
 * members, ranked alike. Scores are ranked expiries, so the expired members, whose keys
 * Redis has dropped, leave the index first, by score range: left in, an expired tool that
 * two people shared outranks every live tool one person used, and holds its place for good.
 * Members indexed when scores were lastSeen read as expired and leave at the first commit;
 * their keys lapse by their own TTL.
 * KEYS: lease hash, cursor, index, then each entity's key. ARGV: holder, lease now, cursor,
 * tools budget, principals budget, entity key prefix (for the evicted ones, named by the
 * index), the expired score ranges (three min, max pairs: expiredScores), then per entity:
 * its index member, JSON, TTL ms, score. Returns 1, or 0 when nothing was written.
 */
const commitState = defineScript(`
local lease = redis.call('HMGET', KEYS[1], 'holder', 'expiresAt')
if lease[1] ~= ARGV[1] or tonumber(lease[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
for i = 7, 11, 2 do redis.call('ZREMRANGEBYSCORE', KEYS[3], ARGV[i], ARGV[i + 1]) end
for i = 13, #ARGV, 4 do
  redis.call('SET', KEYS[4 + (i - 13) / 4], ARGV[i + 1], 'PX', ARGV[i + 2])
  redis.call('ZADD', KEYS[3], ARGV[i + 3], ARGV[i])
end
local function evict(first, held, budget)
  local excess = held - budget
  if excess <= 0 then return 0 end
  local last = first + excess - 1
  for _, key in ipairs(redis.call('ZRANGE', KEYS[3], first, last)) do redis.call('DEL', ARGV[6] .. key) end
  redis.call('ZREMRANGEBYRANK', KEYS[3], first, last)
  return excess
end
local tools = redis.call('ZCOUNT', KEYS[3], '-inf', '(0')
tools = tools - evict(0, tools, tonumber(ARGV[4]))
evict(tools, redis.call('ZCARD', KEYS[3]) - tools, tonumber(ARGV[5]))
return 1
`);

/** Past any tool's eviction rank (an expiry: under 2^42 until 2109), so a tool's score, its rank less this, is negative. */
const TOOL_SCORES = 2 ** 44;

const SHARED: Pick<EntityState, 'soleUser'> = {};
const SOLE: Pick<EntityState, 'soleUser'> = { soleUser: '' };

function scoreOf(pool: EntityPool, state: Pick<EntityState, 'soleUser'>, expiresAt: number): number {
  return pool === 'tools' ? evictionRank(state, expiresAt) - TOOL_SCORES : evictionRank(state, expiresAt);
}

/** For each kind of score (principals, shared tools, sole-user tools), the range of those expired at `now`. */
function expiredScores(now: number): number[] {
  return ([['principals', SHARED], ['tools', SHARED], ['tools', SOLE]] as const).flatMap(([pool, state]) => [scoreOf(pool, state, 0), scoreOf(pool, state, now)]);
}

/** An entity as stored: its expiry travels with it, judged on the store's clock (Redis's TTL only collects garbage). */
interface StoredEntity {
  expiresAt: number;
  state: EntityState;
}

/** The detector's state shared by every instance: the lease decides which one evaluates, and fences its writes. */
export class RedisDetectorStateStore implements DetectorStateStore {
  /** One slot: the fenced commit writes the lease's cursor, the index and every entity together. */
  private readonly k: KeyNamer;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
  ) {
    this.k = slotKeys(prefix, 'detector');
  }

  async claim(holder: string, now: number, expiresAt: number): Promise<DetectorClaim | null> {
    const answer = (await guarded('detector claim', () => claimLease(this.redis, [this.k('lease'), this.k('cursor')], [holder, now, expiresAt]))) as [number, string | null];
    return answer[0] === 1 ? { cursor: answer[1] ?? null } : null;
  }

  async release(holder: string): Promise<void> {
    await guarded('detector release', () => releaseLease(this.redis, [this.k('lease')], [holder]));
  }

  async load(keys: readonly string[]): Promise<Map<string, EntityState>> {
    const found = new Map<string, EntityState>();
    if (keys.length === 0) return found;
    const values = await guarded('detector state load', () => this.redis.mget(keys.map((key) => this.k('entity', key))));
    const now = this.clock.now();
    values.forEach((json, i) => {
      if (json === null) return;
      const stored = JSON.parse(json) as StoredEntity;
      if (stored.expiresAt > now) found.set(keys[i]!, stored.state);
    });
    return found;
  }

  async commit(holder: string, leaseNow: number, cursor: string, entities: ReadonlyMap<string, { state: EntityState; expiresAt: number }>, maxEntities: number): Promise<boolean> {
    const now = this.clock.now();
    const keys = [this.k('lease'), this.k('cursor'), this.k('entities')];
    const budgets = poolBudgets(maxEntities);
    const args: (string | number)[] = [holder, leaseNow, cursor, budgets.tools, budgets.principals, this.k('entity', ''), ...expiredScores(now)];
    for (const [key, { state, expiresAt }] of entities) {
      if (expiresAt <= now) continue;
      keys.push(this.k('entity', key));
      args.push(key, JSON.stringify({ expiresAt, state } satisfies StoredEntity), expiresAt - now, scoreOf(poolOf(key), state, expiresAt));
    }
    const written = await guarded('detector commit', () => commitState(this.redis, keys, args));
    return written === 1;
  }
}
