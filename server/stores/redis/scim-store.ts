import { StoreFullError } from '../../errors.js';
import { emailKey } from '../../identity/email-key.js';
import type { ScimCollection, ScimGroupRecord, ScimStore, ScimUserRecord } from '../types.js';
import { defineScript, execChecked, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';

/**
 * Each record is stored as `{ n, r }`: the name it is indexed under beside it, so the
 * scripts drop a renamed or deleted record's name entry as it was written (a record
 * written before names were folded by emailKey is indexed by toLowerCase).
 */
interface Stored<T> {
  n: string;
  r: T;
}

// KEYS: records, names. ARGV: id, folded name, stored JSON, capacity, the id of the
// record it may displace from its name ('' for none); then, for a tombstone taking the
// name the record leaves, its id, folded name and stored JSON.
const putNamed = defineScript(`
local holder = redis.call('HGET', KEYS[2], ARGV[2])
local displaced = holder and holder ~= ARGV[1] and holder == ARGV[5]
if holder and holder ~= ARGV[1] and not displaced then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
local left = old and cjson.decode(old).n
if ARGV[6] and (left ~= ARGV[7] or ARGV[7] == ARGV[2] or redis.call('HEXISTS', KEYS[1], ARGV[6]) == 1) then return 0 end
local added = (old and 0 or 1) + (ARGV[6] and 1 or 0) - (displaced and 1 or 0)
if added > 0 and redis.call('HLEN', KEYS[1]) + added > tonumber(ARGV[4]) then return -1 end
if displaced then redis.call('HDEL', KEYS[1], holder) end
if old then redis.call('HDEL', KEYS[2], left) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
if ARGV[6] then
  redis.call('HSET', KEYS[1], ARGV[6], ARGV[8])
  redis.call('HSET', KEYS[2], ARGV[7], ARGV[6])
end
return 1
`);

// KEYS: records, names. ARGV: id.
const deleteNamed = defineScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local name = cjson.decode(old).n
if redis.call('HGET', KEYS[2], name) == ARGV[1] then redis.call('HDEL', KEYS[2], name) end
return old
`);

// KEYS: records, names. ARGV: index keys. The record each key names (false for none), in order.
const findNamed = defineScript(`
local found = {}
for i, name in ipairs(ARGV) do
  local id = redis.call('HGET', KEYS[2], name)
  found[i] = id and redis.call('HGET', KEYS[1], id) or false
end
return found
`);

/**
 * One kind of SCIM resource: per IdP, a hash of records by id and a hash of ids by name
 * folded as an email is (ASCII letters only: server/identity/email-key.ts), changed
 * together by scripts (a name stays unique however creates race).
 * No TTL: SCIM resources live until their IdP deletes them, and are bounded by `capacity`.
 */
class RedisScimCollection<T extends { id: string; idp: string; createdAt: number }> implements ScimCollection<T> {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly kind: string,
    private readonly nameOf: (record: T) => string,
    private readonly capacity: number,
  ) {}

  async get(idp: string, id: string): Promise<T | null> {
    return unwrap<T>(await guarded('scim read', () => this.redis.hget(this.recordsKey(idp), id)));
  }

  /**
   * Looks under the toLowerCase entry too, which a record written before names were folded
   * by emailKey is indexed by (else a user deprovisioned then would be nobody SCIM knows);
   * a record counts only if its own name folds as the asked one does: `\u212Aate` finds no `kate`.
   */
  async find(idp: string, names: readonly string[]): Promise<T | null> {
    const asked = names.flatMap((name) => [...new Set([emailKey(name), name.toLowerCase()])].map((key) => ({ key, folded: emailKey(name) })));
    if (asked.length === 0) return null;
    const raw = (await guarded('scim find', () => findNamed(this.redis, this.keys(idp), asked.map((a) => a.key)))) as (string | null)[];
    return raw.map((r) => unwrap<T>(r)).find((record, i) => record !== null && emailKey(this.nameOf(record)) === asked[i]!.folded) ?? null;
  }

  async list(idp: string): Promise<T[]> {
    const values = await guarded('scim list', () => this.redis.hvals(this.recordsKey(idp)));
    return values.map((v) => unwrap<T>(v)!).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async put(record: T, { displacing, tombstone }: { displacing?: string; tombstone?: T } = {}): Promise<boolean> {
    if (tombstone && tombstone.idp !== record.idp) return false;
    const args = [record.id, ...this.stored(record), this.capacity, displacing ?? '', ...(tombstone ? [tombstone.id, ...this.stored(tombstone)] : [])];
    const result = await guarded('scim write', () => putNamed(this.redis, this.keys(record.idp), args));
    if (result === -1) throw new StoreFullError(`this IdP holds ${this.capacity} SCIM ${this.kind}: delete some first`);
    return result === 1;
  }

  async delete(idp: string, id: string): Promise<T | null> {
    return unwrap<T>((await guarded('scim delete', () => deleteNamed(this.redis, this.keys(idp), [id]))) as string | null);
  }

  /** The record's folded name, and the record stored beside it. */
  private stored(record: T): [string, string] {
    const name = emailKey(this.nameOf(record));
    const stored: Stored<T> = { n: name, r: record };
    return [name, JSON.stringify(stored)];
  }

  private recordsKey(idp: string): string {
    return scimKeys(this.prefix, idp)(this.kind);
  }

  private keys(idp: string): string[] {
    return [this.recordsKey(idp), scimKeys(this.prefix, idp)(`${this.kind}-names`)];
  }
}

/** One slot per IdP: its users, groups, name indexes and sightings change together. */
function scimKeys(prefix: string, idp: string) {
  return slotKeys(prefix, `scim:${idp}`);
}

function unwrap<T>(raw: string | null): T | null {
  return raw === null ? null : (JSON.parse(raw) as Stored<T>).r;
}

/** SCIM state shared by every instance. */
export function redisScimStore(redis: RedisClient, prefix: string, capacity: number): ScimStore {
  const seenKey = (idp: string, name: string) => scimKeys(prefix, idp)('seen', emailKey(name));
  return {
    users: new RedisScimCollection<ScimUserRecord>(redis, prefix, 'users', (user) => user.userName, capacity),
    groups: new RedisScimCollection<ScimGroupRecord>(redis, prefix, 'groups', (group) => group.displayName, capacity),
    sighted: async (idp, names, userId) => {
      if (names.length === 0) return;
      await guarded('scim sighting', () => execChecked(names.reduce((multi, name) => multi.sadd(seenKey(idp, name), userId), redis.multi())));
    },
    sightings: (idp, name) => guarded('scim sightings', () => redis.smembers(seenKey(idp, name))),
  };
}
