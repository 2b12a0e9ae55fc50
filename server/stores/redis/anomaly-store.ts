import { checkListingCursor } from '../../access/listing-cursor.js';
import type { Clock } from '../../clock.js';
import type { AnomalyRecord, AnomalyStatus, Suppression } from '../../detection/types.js';
import { anomalyListingKey, MAX_TRIM_PER_CREATE } from '../anomaly-listing.js';
import { TOO_MANY_SUPPRESSIONS } from '../types.js';
import type { AnomalyStore, Listed } from '../types.js';
import { defineScript, execChecked, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
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
 * and every index entry, at most maxTrim of them) in the same step. The trimmed records'
 * keys come from the index and their users: named in the script, in the same slot.
 * KEYS: the record, then its four indexes (all first). ARGV: recordPrefix, indexPrefix, id,
 * json, member, keep, maxTrim. Returns 1 | 0.
 */
const createAnomaly = defineScript(`${INDEXES_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[4])
for i = 2, 5 do redis.call('ZADD', KEYS[i], 0, ARGV[5]) end
local excess = math.min(redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6]), tonumber(ARGV[7]))
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    local victim = ARGV[1] .. string.sub(member, string.find(member, ':', 1, true) + 1)
    local json = redis.call('GET', victim)
    if json then
      local record = cjson.decode(json)
      for _, index in ipairs(indexes(ARGV[2], record.user, record.status)) do redis.call('ZREM', index, member) end
    end
    redis.call('ZREM', KEYS[2], member)
    redis.call('DEL', victim)
  end
end
return 1
`);

/**
 * Saves the record when the stored version is one below its own, moving its entries to the
 * indexes of its new status (the old ones named from the stored record, in the same slot).
 * KEYS: the record. ARGV: indexPrefix, json, member, version. Returns 1 | 0.
 */
const updateAnomaly = defineScript(`${INDEXES_LUA}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local before = cjson.decode(current)
if tonumber(before.version) ~= tonumber(ARGV[4]) - 1 then return 0 end
local after = cjson.decode(ARGV[2])
redis.call('SET', KEYS[1], ARGV[2])
if before.status ~= after.status then
  for _, index in ipairs(indexes(ARGV[1], before.user, before.status)) do redis.call('ZREM', index, ARGV[3]) end
  for _, index in ipairs(indexes(ARGV[1], after.user, after.status)) do redis.call('ZADD', index, 0, ARGV[3]) end
end
return 1
`);

/**
 * Anomalies and suppressions shared by every instance. Scripts name keys they derive from
 * stored records (a trimmed anomaly's user indexes), so every anomaly key shares the
 * `{anomaly}` slot.
 */
export class RedisAnomalyStore implements AnomalyStore {
  private readonly suppressed: RedisSuppressions;
  private readonly recordPrefix: string;
  private readonly indexPrefix: string;

  constructor(
    private readonly redis: RedisClient,
    clock: Clock,
    prefix: string,
    suppressionCapacity: number,
  ) {
    const k = slotKeys(prefix, 'anomaly');
    this.recordPrefix = k('record', '');
    this.indexPrefix = k('index', '');
    this.suppressed = new RedisSuppressions(redis, clock, prefix, suppressionCapacity);
  }

  async create(record: AnomalyRecord, keep: number): Promise<boolean> {
    const keys = [this.recordPrefix + record.id, this.indexOf({}), this.indexOf({ status: record.status }), this.indexOf({ user: record.user }), this.indexOf(record)];
    const args = [this.recordPrefix, this.indexPrefix, record.id, JSON.stringify(record), anomalyListingKey(record), keep, MAX_TRIM_PER_CREATE];
    return (await guarded('anomaly create', () => createAnomaly(this.redis, keys, args))) === 1;
  }

  async get(id: string): Promise<AnomalyRecord | null> {
    const json = await guarded('anomaly read', () => this.redis.get(this.recordPrefix + id));
    return json === null ? null : (JSON.parse(json) as AnomalyRecord);
  }

  async update(next: AnomalyRecord): Promise<boolean> {
    const args = [this.indexPrefix, JSON.stringify(next), anomalyListingKey(next), next.version];
    return (await guarded('anomaly update', () => updateAnomaly(this.redis, [this.recordPrefix + next.id], args))) === 1;
  }

  async list(options: { user?: string; status?: AnomalyStatus; after?: string; limit: number }): Promise<Listed<AnomalyRecord>[]> {
    const max = options.after === undefined ? '+' : `(${checkListingCursor(options.after)}`;
    const members = await guarded('anomaly list', () => this.redis.zrevrangebylex(this.indexOf(options), max, '-', 'LIMIT', 0, options.limit));
    if (members.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const member of members) pipeline.get(this.recordPrefix + member.slice(member.indexOf(':') + 1));
    const replies = await guarded('anomaly list', () => execChecked(pipeline));
    return members.flatMap((cursor, i) => {
      const json = replies[i];
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
  constructor(redis: RedisClient, clock: Clock, prefix: string, capacity: number) {
    super(redis, clock, prefix, 'anomaly-suppression', capacity, { fullMessage: TOO_MANY_SUPPRESSIONS });
  }

  all(): Promise<Suppression[]> {
    return this.liveIn(this.k('index'));
  }
}
