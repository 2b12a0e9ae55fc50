import { randomBytes } from 'node:crypto';
import { checkListingCursor, grantRetainedUntil, listingKey, requestRetainedUntil, ACCESS_RETENTION_MS } from '../../access/listing-cursor.js';
import type { AccessRequestRecord, AccessScope, GrantRecord } from '../../access/types.js';
import { withScopeDefaults } from '../../access/types.js';
import type { Clock } from '../../clock.js';
import { StoreUnavailableError } from '../../errors.js';
import type { AccessStore, Listed } from '../types.js';
import { defineScript, execChecked, guarded } from './connection.js';
import type { DurableWrite, RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

/**
 * Creates or updates a request (compare-and-set on its version) and, in the same atomic
 * step, creates the grant it issues, maintaining the listing and expiry indexes.
 *
 * Each listing index it adds to is pruned on the way of the entries whose record's
 * retention has ended: the record's expiry (PEXPIREAT retainUntil, on the caller's clock)
 * is at or before `now`, or the record is gone (PEXPIRETIME -2). Only entries created
 * before `pruneBelow` can have ended (every record is retained 30 days past its creation
 * at least), and at most `batch` of them are looked at per index and write: a sweep that
 * goes on where the last one stopped (`pruned-to`, one field per index), so entries of
 * long grants still in force never hold it at the bottom of the index.
 * KEYS: request, requests, user-requests, due-requests, grant, grants, user-grants, due-grants, pruned-to
 * ARGV: mode, id, version, json, member, dueAt|'', retainUntil, pruneBelow,
 *       grantId|'', grantVersion, grantJson, grantMember, grantExpiresAt, grantRetainUntil,
 *       now, batch, requestKeyPrefix, grantKeyPrefix
 */
const putRequest = defineScript(`
local function prune(index, records)
  local from = redis.call('HGET', KEYS[9], index)
  local batch = tonumber(ARGV[16])
  local members = redis.call('ZRANGEBYLEX', index, from and ('(' .. from) or '-', '(' .. ARGV[8], 'LIMIT', 0, batch)
  for _, member in ipairs(members) do
    local record = records .. string.sub(member, string.find(member, ':', 1, true) + 1)
    if redis.call('PEXPIRETIME', record) <= tonumber(ARGV[15]) then redis.call('ZREM', index, member) end
  end
  if #members < batch then redis.call('HDEL', KEYS[9], index) else redis.call('HSET', KEYS[9], index, members[#members]) end
end
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'create' then
  if current then return 0 end
elseif (not current) or tonumber(current) ~= tonumber(ARGV[3]) - 1 then
  return 0
end
if ARGV[9] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'j', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
for _, index in ipairs({KEYS[2], KEYS[3]}) do
  redis.call('ZADD', index, 0, ARGV[5])
  prune(index, ARGV[17])
end
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2]) else redis.call('ZREM', KEYS[4], ARGV[2]) end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[5], 'v', ARGV[10], 'j', ARGV[11])
  redis.call('PEXPIREAT', KEYS[5], ARGV[14])
  for _, index in ipairs({KEYS[6], KEYS[7]}) do
    redis.call('ZADD', index, 0, ARGV[12])
    prune(index, ARGV[18])
  end
  redis.call('ZADD', KEYS[8], ARGV[13], ARGV[9])
end
return 1
`);

/** Listing entries a write looks at for pruning, per index: a bound on the script's work, above the one entry each write adds. */
const PRUNE_BATCH = 32;

/** KEYS: grant, due-grants. ARGV: id, version, json, retainUntil, stillDue ('1' or '0'). */
const putGrant = defineScript(`
local current = redis.call('HGET', KEYS[1], 'v')
if (not current) or tonumber(current) ~= tonumber(ARGV[2]) - 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'j', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if ARGV[5] == '0' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
`);

const releaseLock = defineScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

const LOCK_LEASE_MS = 10_000;
const LOCK_WAIT_MS = 3_000;

export class RedisAccessStore implements AccessStore {
  /** One slot: a request's write touches its grant and every listing and due index. */
  private readonly k: KeyNamer;

  /** `durable` runs grant updates: a revocation must not come undone with a failover (docs/redis.md#durability). */
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    private readonly durable: DurableWrite,
  ) {
    this.k = slotKeys(prefix, 'access');
  }

  createRequest(request: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    return this.putRequest('create', request, grant);
  }

  updateRequest(next: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    return this.putRequest('update', next, grant);
  }

  async getRequest(id: string): Promise<AccessRequestRecord | null> {
    return this.read<AccessRequestRecord>(this.k(`req:${id}`));
  }

  listRequests(options: { requesterId?: string; after?: string; limit: number }): Promise<Listed<AccessRequestRecord>[]> {
    const index = options.requesterId === undefined ? this.k('reqs') : this.k(`user-reqs:${options.requesterId}`);
    return this.list<AccessRequestRecord>(index, (id) => this.k(`req:${id}`), options);
  }

  async dueRequests(now: number, limit: number): Promise<string[]> {
    return guarded('due requests', () => this.redis.zrangebyscore(this.k('reqs:due'), '-inf', now, 'LIMIT', 0, limit));
  }

  async pendingRequests(now: number): Promise<AccessRequestRecord[]> {
    // The due index holds exactly the PENDING requests, scored by expiresAt.
    const ids = await guarded('pending requests', () => this.redis.zrangebyscore(this.k('reqs:due'), `(${now}`, '+inf'));
    return (await this.readAll<AccessRequestRecord>(ids.map((id) => this.k(`req:${id}`)))).flatMap((r) => r ?? []);
  }

  async getGrant(id: string): Promise<GrantRecord | null> {
    return this.read<GrantRecord>(this.k(`grant:${id}`));
  }

  async updateGrant(next: GrantRecord): Promise<boolean> {
    const stillDue = next.revokedAt === null && next.expiredAt === null ? '1' : '0';
    const result = await guarded('grant update', () =>
      this.durable(putGrant, [this.k(`grant:${next.id}`), this.k('grants:due')], [next.id, next.version, JSON.stringify(next), grantRetainedUntil(next), stillDue]),
    );
    return result === 1;
  }

  listGrants(options: { userId?: string; after?: string; limit: number }): Promise<Listed<GrantRecord>[]> {
    const index = options.userId === undefined ? this.k('grants') : this.k(`user-grants:${options.userId}`);
    return this.list<GrantRecord>(index, (id) => this.k(`grant:${id}`), options);
  }

  async dueGrants(now: number, limit: number): Promise<string[]> {
    return guarded('due grants', () => this.redis.zrangebyscore(this.k('grants:due'), '-inf', now, 'LIMIT', 0, limit));
  }

  async activeGrants(now: number): Promise<GrantRecord[]> {
    // The due index holds exactly the grants neither revoked nor recorded as expired, scored by expiresAt.
    const ids = await guarded('active grants', () => this.redis.zrangebyscore(this.k('grants:due'), `(${now}`, '+inf'));
    return (await this.readAll<GrantRecord>(ids.map((id) => this.k(`grant:${id}`)))).flatMap((g) => g ?? []);
  }

  async withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const lockKey = this.k(`lock:${key}`);
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await guarded('lock', () => this.redis.set(lockKey, token, 'PX', LOCK_LEASE_MS, 'NX'))) !== 'OK') {
      if (Date.now() > deadline) throw new StoreUnavailableError(`lock ${key} (held elsewhere for over ${LOCK_WAIT_MS} ms)`);
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
    }
    try {
      return await work();
    } finally {
      await guarded('unlock', () => releaseLock(this.redis, [lockKey], [token])).catch(() => {
        // The lease lapses on its own; an unreachable store here must not mask work's outcome.
      });
    }
  }

  private async putRequest(mode: 'create' | 'update', request: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    const member = listingKey(request.createdAt, request.id);
    const now = this.clock.now();
    const pruneBelow = listingKey(Math.max(0, now - ACCESS_RETENTION_MS), '');
    const grantArgs = grant
      ? [grant.id, grant.version, JSON.stringify(grant), listingKey(grant.issuedAt, grant.id), grant.expiresAt, grantRetainedUntil(grant)]
      : ['', 0, '', '', 0, 0];
    const grantKey = (suffix: string) => this.k(`${suffix}${grant?.id ?? '-'}`);
    const result = await guarded('request write', () =>
      putRequest(
        this.redis,
        [
          this.k(`req:${request.id}`),
          this.k('reqs'),
          this.k(`user-reqs:${request.requester.id}`),
          this.k('reqs:due'),
          grantKey('grant:'),
          this.k('grants'),
          this.k(`user-grants:${grant?.user.id ?? '-'}`),
          this.k('grants:due'),
          this.k('pruned-to'),
        ],
        [
          mode,
          request.id,
          request.version,
          JSON.stringify(request),
          member,
          request.status === 'PENDING' ? request.expiresAt : '',
          requestRetainedUntil(request, grant?.expiresAt),
          pruneBelow,
          ...grantArgs,
          now,
          PRUNE_BATCH,
          this.k('req:'),
          this.k('grant:'),
        ],
      ),
    );
    return result === 1;
  }

  private async read<T extends AccessScope>(key: string): Promise<T | null> {
    const json = await guarded('read', () => this.redis.hget(key, 'j'));
    return json === null ? null : (withScopeDefaults(JSON.parse(json) as T) as T);
  }

  private async list<T extends AccessScope>(index: string, keyOf: (id: string) => string, options: { after?: string; limit: number }): Promise<Listed<T>[]> {
    const max = options.after === undefined ? '+' : `(${checkListingCursor(options.after)}`;
    const members = await guarded('list', () => this.redis.zrevrangebylex(index, max, '-', 'LIMIT', 0, options.limit));
    const records = await this.readAll<T>(members.map((m) => keyOf(m.slice(m.indexOf(':') + 1))));
    return members.flatMap((cursor, i) => {
      const record = records[i];
      // A record past its retention is gone while its listing entry awaits pruning.
      return record ? [{ cursor, record }] : [];
    });
  }

  /** The records at `keys` in one round trip, null where one is gone (or was removed since its index was read). */
  private async readAll<T extends AccessScope>(keys: string[]): Promise<(T | null)[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hget(key, 'j');
    const replies = await guarded('list', () => execChecked(pipeline));
    return replies.map((json) => (typeof json === 'string' ? (withScopeDefaults(JSON.parse(json) as T) as T) : null));
  }
}
