import type { Redis } from 'ioredis';
import { checkListingCursor } from '../../access/listing-cursor.js';
import type { Clock } from '../../clock.js';
import type { AnomalyRecord, AnomalyStatus, Suppression } from '../../detection/types.js';
import { anomalyListingKey, MAX_TRIM_PER_CREATE } from '../anomaly-listing.js';
import { TOO_MANY_SUPPRESSIONS } from '../types.js';
import type { AnomalyStore, Listed } from '../types.js';
import { defineScript, guarded } from './connection.js';
import { RedisBoundedRecords } from './identity-stores.js';

/**
 * Listing indexes (score 0, so rank order is the lex order of the listing keys): every
 * anomaly, by status, by user, by user and status. One script writes a record and all of
 * its index entries, so a listing never names a record that is not there for long.
 */
const INDEXES_LUA = `
local function indexes(prefix, user, status)
  return {prefix .. 'all', prefix .. 'status:' .. status, prefix .. 'user:' .. user, prefix .. 'user-status:' .. status .. ':' .. user}
end
`;

/**
 * Creates the anomaly unless its id exists, then trims the oldest beyond `keep` (records
 * and every index entry, at most maxTrim of them) in the same step.
 * KEYS: none (the index prefix is ARGV: the keys depend on each trimmed record's user).
 * ARGV: recordPrefix, indexPrefix, id, json, member, user, status, keep, maxTrim. Returns 1 | 0.
 */
const createAnomaly = defineScript(`${INDEXES_LUA}
local key = ARGV[1] .. ARGV[3]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('SET', key, ARGV[4])
for _, index in ipairs(indexes(ARGV[2], ARGV[6], ARGV[7])) do redis.call('ZADD', index, 0, ARGV[5]) end
local excess = math.min(redis.call('ZCARD', ARGV[2] .. 'all') - tonumber(ARGV[8]), tonumber(ARGV[9]))
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', ARGV[2] .. 'all', 0, excess - 1)) do
    local victim = ARGV[1] .. string.sub(member, string.find(member, ':', 1, true) + 1)
    local json = redis.call('GET', victim)
    if json then
      local record = cjson.decode(json)
      for _, index in ipairs(indexes(ARGV[2], record.user, record.status)) do redis.call('ZREM', index, member) end
    end
    redis.call('ZREM', ARGV[2] .. 'all', member)
    redis.call('DEL', victim)
  end
end
return 1
`);

/**
 * Saves the record when the stored version is one below its own, moving its entries to the
 * indexes of its new status. ARGV: recordPrefix, indexPrefix, id, json, member, version. Returns 1 | 0.
 */
const updateAnomaly = defineScript(`${INDEXES_LUA}
local key = ARGV[1] .. ARGV[3]
local current = redis.call('GET', key)
if not current then return 0 end
local before = cjson.decode(current)
if tonumber(before.version) ~= tonumber(ARGV[6]) - 1 then return 0 end
local after = cjson.decode(ARGV[4])
redis.call('SET', key, ARGV[4])
if before.status ~= after.status then
  for _, index in ipairs(indexes(ARGV[2], before.user, before.status)) do redis.call('ZREM', index, ARGV[5]) end
  for _, index in ipairs(indexes(ARGV[2], after.user, after.status)) do redis.call('ZADD', index, 0, ARGV[5]) end
end
return 1
`);

/**
 * Anomalies and suppressions shared by every instance. Scripts name keys they derive from
 * stored records (a trimmed anomaly's user indexes), so they suit a single Redis or a
 * cluster with one hash tag for the prefix, not keys spread over slots.
 */
export class RedisAnomalyStore implements AnomalyStore {
  private readonly suppressed: RedisSuppressions;
  private readonly recordPrefix: string;
  private readonly indexPrefix: string;

  constructor(
    private readonly redis: Redis,
    clock: Clock,
    prefix: string,
    suppressionCapacity: number,
  ) {
    this.recordPrefix = `${prefix}anomaly:`;
    this.indexPrefix = `${prefix}anomalies:`;
    this.suppressed = new RedisSuppressions(redis, clock, prefix, suppressionCapacity);
  }

  async create(record: AnomalyRecord, keep: number): Promise<boolean> {
    const args = [this.recordPrefix, this.indexPrefix, record.id, JSON.stringify(record), anomalyListingKey(record), record.user, record.status, keep, MAX_TRIM_PER_CREATE];
    return (await guarded('anomaly create', () => createAnomaly(this.redis, [], args))) === 1;
  }

  async get(id: string): Promise<AnomalyRecord | null> {
    const json = await guarded('anomaly read', () => this.redis.get(this.recordPrefix + id));
    return json === null ? null : (JSON.parse(json) as AnomalyRecord);
  }

  async update(next: AnomalyRecord): Promise<boolean> {
    const args = [this.recordPrefix, this.indexPrefix, next.id, JSON.stringify(next), anomalyListingKey(next), next.version];
    return (await guarded('anomaly update', () => updateAnomaly(this.redis, [], args))) === 1;
  }

  async list(options: { user?: string; status?: AnomalyStatus; after?: string; limit: number }): Promise<Listed<AnomalyRecord>[]> {
    const max = options.after === undefined ? '+' : `(${checkListingCursor(options.after)}`;
    const members = await guarded('anomaly list', () => this.redis.zrevrangebylex(this.indexOf(options), max, '-', 'LIMIT', 0, options.limit));
    if (members.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const member of members) pipeline.get(this.recordPrefix + member.slice(member.indexOf(':') + 1));
    const replies = (await guarded('anomaly list', () => pipeline.exec())) ?? [];
    return members.flatMap((cursor, i) => {
      const json = replies[i]?.[1];
      // Trimmed between the two reads: the listing goes on without it.
      return typeof json === 'string' ? [{ cursor, record: JSON.parse(json) as AnomalyRecord }] : [];
    });
  }

  suppress(suppression: Suppression): Promise<void> {
    return this.suppressed.put(suppression.id, suppression);
  }

  async suppressions(now: number): Promise<Suppression[]> {
    const live = await this.suppressed.all();
    return live.filter((s) => s.expiresAt > now).sort((a, b) => a.expiresAt - b.expiresAt);
  }

  unsuppress(id: string): Promise<Suppression | null> {
    return this.suppressed.take(id);
  }

  private indexOf(filter: { user?: string; status?: AnomalyStatus }): string {
    if (filter.user !== undefined && filter.status !== undefined) return `${this.indexPrefix}user-status:${filter.status}:${filter.user}`;
    if (filter.user !== undefined) return `${this.indexPrefix}user:${filter.user}`;
    if (filter.status !== undefined) return `${this.indexPrefix}status:${filter.status}`;
    return `${this.indexPrefix}all`;
  }
}

/** Suppressions: bounded live records with one index, each expiring on the injected clock. */
class RedisSuppressions extends RedisBoundedRecords<Suppression> {
  private readonly index: string;

  constructor(redis: Redis, clock: Clock, prefix: string, capacity: number) {
    const index = `${prefix}anomaly-suppressions`;
    super(redis, clock, prefix, 'anomaly-suppression', capacity, { indexOf: () => index, fullMessage: TOO_MANY_SUPPRESSIONS });
    this.index = index;
  }

  all(): Promise<Suppression[]> {
    return this.liveIn(this.index);
  }
}
