import type { Clock } from '../../clock.js';
import type { NotificationStore, OutboxEntry } from '../types.js';
import { defineScript, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';
import { claimLease, releaseLease } from './detector-state-store.js';
import { readyAt } from '../outbox-ready.js';

/**
 * The fenced enqueue: only while ARGV holder holds a live lease, sets the cursor and adds
 * each entry that is not there yet (its key with a TTL, its creation time in the index, its
 * due time in its sink's pending set, its id under the subject it opens, if any).
 * KEYS: lease hash, cursor, index, then per entry: its key, its sink's pending set, the
 * opener key of its subject (unused when it opens none). ARGV: holder, lease now, cursor,
 * TTL ms, then per entry: id, JSON, createdAt, due time, '1' when it opens a subject.
 * Returns 1, or 0 when nothing was written.
 */
const enqueueEntries = defineScript(`
local lease = redis.call('HMGET', KEYS[1], 'holder', 'expiresAt')
if lease[1] ~= ARGV[1] or tonumber(lease[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
for i = 5, #ARGV, 5 do
  local k = 4 + (i - 5) / 5 * 3
  if redis.call('SET', KEYS[k], ARGV[i + 1], 'NX', 'PX', ARGV[4]) then
    redis.call('ZADD', KEYS[3], ARGV[i + 2], ARGV[i])
    redis.call('ZADD', KEYS[k + 1], ARGV[i + 3], ARGV[i])
    if ARGV[i + 4] == '1' then redis.call('SET', KEYS[k + 2], ARGV[i], 'PX', ARGV[4]) end
  end
end
return 1
`);

/**
 * Compare-and-set on the entry's version, keeping its sink's pending set in step (a
 * pending entry at the time it may be tried, any other out of it).
 * KEYS: entry, pending set. ARGV: expected version, JSON, TTL ms, id, ready time or '' (not pending). Returns 1 when written.
 */
const updateEntry = defineScript(`
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current).version ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if ARGV[5] == '' then redis.call('ZREM', KEYS[2], ARGV[4]) else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
return 1
`);

/** The outbox shared by every instance: the lease decides which one fills it; deliveries are claimed entry by entry. */
export class RedisNotificationStore implements NotificationStore {
  /** One slot: the fenced enqueue writes the cursor, the index and each entry's keys together. */
  private readonly k: KeyNamer;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
  ) {
    this.k = slotKeys(prefix, 'notif');
  }

  async claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    const answer = (await guarded('notification claim', () => claimLease(this.redis, [this.k('lease'), this.k('cursor')], [holder, now, expiresAt]))) as [number, string | null];
    return answer[0] === 1 ? { cursor: answer[1] ?? null } : null;
  }

  async release(holder: string): Promise<void> {
    await guarded('notification release', () => releaseLease(this.redis, [this.k('lease')], [holder]));
  }

  async enqueue(holder: string, leaseNow: number, cursor: string, entries: readonly OutboxEntry[], keepUntil: number): Promise<boolean> {
    const keys = [this.k('lease'), this.k('cursor'), this.k('index')];
    const args: (string | number)[] = [holder, leaseNow, cursor, this.ttl(keepUntil)];
    for (const entry of entries) {
      keys.push(this.k('entry', entry.id), this.k('pending', entry.sink), this.k('opener', entry.opens ?? ''));
      args.push(entry.id, JSON.stringify(entry), entry.createdAt, readyAt(entry), entry.opens ? '1' : '');
    }
    return (await guarded('notification enqueue', () => enqueueEntries(this.redis, keys, args))) === 1;
  }

  async get(id: string): Promise<OutboxEntry | null> {
    const json = await guarded('notification get', () => this.redis.get(this.k('entry', id)));
    return json === null ? null : (JSON.parse(json) as OutboxEntry);
  }

  async entries(): Promise<OutboxEntry[]> {
    const ids = await guarded('notification list', () => this.redis.zrange(this.k('index'), '0', '-1'));
    if (ids.length === 0) return [];
    const values = await guarded('notification list', () => this.redis.mget(ids.map((id) => this.k('entry', id))));
    // An index member whose entry expired is dropped from the index here (Redis's TTL removed only the entry).
    const gone = ids.filter((_, i) => values[i] === null);
    if (gone.length > 0) await guarded('notification list', () => this.redis.zrem(this.k('index'), ...gone));
    return values.flatMap((json) => (json === null ? [] : [JSON.parse(json) as OutboxEntry]));
  }

  async due(sink: string, now: number, limit: number): Promise<OutboxEntry[]> {
    const ids = await guarded('notification due', () => this.redis.zrangebyscore(this.k('pending', sink), '-inf', now, 'LIMIT', 0, limit));
    if (ids.length === 0) return [];
    const values = await guarded('notification due', () => this.redis.mget(ids.map((id) => this.k('entry', id))));
    // An entry gone (its TTL) leaves its id in the set: dropped here.
    const gone = ids.filter((_, i) => values[i] === null);
    if (gone.length > 0) await guarded('notification due', () => this.redis.zrem(this.k('pending', sink), ...gone));
    return values.flatMap((json) => (json === null ? [] : [JSON.parse(json) as OutboxEntry])).filter((entry) => entry.status === 'PENDING' && readyAt(entry) <= now);
  }

  async update(next: OutboxEntry, keepUntil: number): Promise<boolean> {
    const ready = next.status === 'PENDING' ? readyAt(next) : '';
    return (await guarded('notification update', () => updateEntry(this.redis, [this.k('entry', next.id), this.k('pending', next.sink)], [next.version - 1, JSON.stringify(next), this.ttl(keepUntil), next.id, ready]))) === 1;
  }

  async memo(key: string): Promise<Record<string, string> | null> {
    const json = await guarded('notification memo', () => this.redis.get(this.k('memo', key)));
    return json === null ? null : (JSON.parse(json) as Record<string, string>);
  }

  async setMemo(key: string, memo: Record<string, string>, keepUntil: number): Promise<void> {
    await guarded('notification memo', () => this.redis.set(this.k('memo', key), JSON.stringify(memo), 'PX', this.ttl(keepUntil)));
  }

  async opener(key: string): Promise<string | null> {
    return guarded('notification opener', () => this.redis.get(this.k('opener', key)));
  }

  private ttl(keepUntil: number): number {
    return Math.max(1, keepUntil - this.clock.now());
  }
}
