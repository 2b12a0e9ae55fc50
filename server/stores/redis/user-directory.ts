import type { Clock } from '../../clock.js';
import { emailKey } from '../../identity/email-key.js';
import { DIRECTORY_ENTRY_MAX_AGE_MS, inAnyGroup, isFresh, withEmail } from '../directory-entries.js';
import type { DirectoryEntry, UserDirectoryStore } from '../types.js';
import { defineScript, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

/** An entry as stored: with its email key (email-key.ts) beside it, so the script can drop index members without folding case in Lua. */
interface Stored extends DirectoryEntry {
  e: string;
}

/**
 * Writes an entry and its index members (after removing those of what was kept of the
 * user before), then drops, with their members, the entries expired (last seen at or before
 * the cutoff) and the least recently seen beyond the capacity.
 * KEYS: entries hash, last-seen zset, the entry's email index, then its group indexes.
 * ARGV: id, stored JSON, lastSeenAt, capacity, index key prefix (for what was kept before
 * and for dropped entries, named from the stored entries: the same slot), expiry cutoff.
 */
const recordSeen = defineScript(`
local function unindex(id)
  local old = redis.call('HGET', KEYS[1], id)
  if not old then return end
  local entry = cjson.decode(old)
  redis.call('SREM', ARGV[5] .. 'email:' .. entry.e, id)
  for _, group in ipairs(entry.user.groups) do redis.call('SREM', ARGV[5] .. 'group:' .. group, id) end
  redis.call('HDEL', KEYS[1], id)
end
unindex(ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for i = 3, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])) do unindex(id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do unindex(id) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
return 1
`);

/** The user directory shared by every instance: entries in one hash, last sign-ins in a sorted set (the eviction order), indexes as sets. */
export class RedisUserDirectory implements UserDirectoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    private readonly capacity: number,
  ) {
    this.key = slotKeys(prefix, 'user-directory');
  }

  /** One slot: an entry's write touches the entries, the eviction order and its indexes. */
  private readonly key: KeyNamer;

  async seen(user: DirectoryEntry['user'], at: number): Promise<void> {
    const email = emailKey(user.email);
    const stored: Stored = { user, lastSeenAt: at, e: email };
    const cutoff = this.clock.now() - DIRECTORY_ENTRY_MAX_AGE_MS;
    await guarded('user directory write', () => recordSeen(this.redis, [this.key('entries'), this.key('seen'), this.key(`email:${email}`), ...user.groups.map((group) => this.key(`group:${group}`))], [user.id, JSON.stringify(stored), at, this.capacity, this.key(''), cutoff]));
  }

  async byEmail(email: string): Promise<DirectoryEntry[]> {
    const ids = await guarded('user directory read', () => this.redis.smembers(this.key(`email:${emailKey(email)}`)));
    return withEmail(await this.read(ids), email, this.clock.now());
  }

  /** Reads the records of the `limit` most recently seen members only (by their last-seen scores): a large group costs ids, not records. */
  async inGroups(groups: readonly string[], limit: number): Promise<DirectoryEntry[]> {
    if (groups.length === 0) return [];
    const now = this.clock.now();
    const ids = await guarded('user directory read', () => this.redis.sunion(...groups.map((group) => this.key(`group:${group}`))));
    if (ids.length === 0) return [];
    const scores = await guarded('user directory read', () => this.redis.zmscore(this.key('seen'), ...ids));
    const recent = ids
      .flatMap((id, i) => (scores[i] == null || !isFresh(Number(scores[i]), now) ? [] : [{ id, at: Number(scores[i]) }]))
      .sort((a, b) => b.at - a.at || a.id.localeCompare(b.id))
      .slice(0, limit);
    return inAnyGroup(await this.read(recent.map(({ id }) => id)), groups, limit, now);
  }

  private async read(ids: readonly string[]): Promise<(DirectoryEntry | null)[]> {
    if (ids.length === 0) return [];
    const raw = await guarded('user directory read', () => this.redis.hmget(this.key('entries'), ...ids));
    return raw.map((json) => {
      if (json === null) return null;
      const { user, lastSeenAt } = JSON.parse(json) as Stored;
      return { user, lastSeenAt };
    });
  }
}
