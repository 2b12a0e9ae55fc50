import type { Clock } from '../../clock.js';
import { StoreFullError } from '../../errors.js';
import type {
  AssertionReplayCache,
  LoginSession,
  OneTimeValueStore,
  UserIdentity,
} from '../types.js';
import { ApiTokenRecords } from '../api-token-records.js';
import type { StoredApiToken } from '../api-token-records.js';
import { LoginSessionRecords } from '../login-session-records.js';
import type { UserRecords } from '../login-session-records.js';
import { defineScript, durableWrites, execChecked, guarded } from './connection.js';
import type { DurableWrite, RedisClient, Script } from './connection.js';
import { looseKeys, slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

// GETDEL as a script: a take that deletes a credential runs durably (runDurably runs scripts).
const takeValue = defineScript(`return redis.call('GETDEL', KEYS[1])`);

/**
 * Every value is written with SET ... PX in the same command, so no key ever lives
 * without a TTL; the `expiresAt` inside the value, judged on the injected clock, is what
 * decides validity (the TTL only collects garbage). `durable` runs take: the store's
 * durable writes where a take revokes (sessions, API tokens, OAuth tokens).
 */
export class RedisJsonRecords<T extends { expiresAt: number }> {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    readonly key: (id: string) => string,
    private readonly durable: DurableWrite = durableWrites(redis, undefined),
  ) {}

  ttlMs(expiresAt: number): number {
    return Math.max(1, expiresAt - this.clock.now());
  }

  async put(id: string, value: T): Promise<void> {
    await guarded('write', () => this.redis.set(this.key(id), JSON.stringify(value), 'PX', this.ttlMs(value.expiresAt)));
  }

  async get(id: string): Promise<T | null> {
    return this.live(await guarded('read', () => this.redis.get(this.key(id))));
  }

  async take(id: string): Promise<T | null> {
    const raw = await guarded('take', () => this.durable(takeValue, [this.key(id)], []));
    return this.live(typeof raw === 'string' ? raw : null);
  }

  async getMany(ids: string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    const values = await guarded('read', () => this.redis.mget(ids.map((id) => this.key(id))));
    return values.flatMap((v) => this.live(v) ?? []);
  }

  /** The parsed record when it is still live on our clock. */
  live(raw: string | null): T | null {
    if (raw === null) return null;
    const value = JSON.parse(raw) as T;
    return value.expiresAt > this.clock.now() ? value : null;
  }
}

/**
 * Records with a per-user index (a sorted set scored by expiresAt), written in one MULTI;
 * the index expires with its longest-lived record. One slot per kind (`{session}`,
 * `{token}`): the record is found by its id alone, so its key cannot carry the user's tag.
 */
class RedisUserRecords<T extends { id: string; user: UserIdentity; createdAt: number; expiresAt: number }> implements UserRecords<T> {
  private readonly records: RedisJsonRecords<T>;
  private readonly k: KeyNamer;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    private readonly kind: string,
    durable: DurableWrite,
  ) {
    this.k = slotKeys(prefix, kind);
    this.records = new RedisJsonRecords(redis, clock, (id) => this.k('record', id), durable);
  }

  async create(record: T): Promise<void> {
    const index = this.indexKey(record.user.id);
    const ttl = this.records.ttlMs(record.expiresAt);
    await guarded(`${this.kind} create`, () =>
      execChecked(
        this.redis
          .multi()
          .set(this.records.key(record.id), JSON.stringify(record), 'PX', ttl)
          .zadd(index, record.expiresAt, record.id)
          .zremrangebyscore(index, '-inf', this.clock.now())
          .pexpire(index, ttl, 'NX')
          .pexpire(index, ttl, 'GT'),
      ),
    );
  }

  get(id: string): Promise<T | null> {
    return this.records.get(id);
  }

  async listByUser(userId: string): Promise<T[]> {
    const ids = await guarded(`${this.kind} list`, () => this.redis.zrangebyscore(this.indexKey(userId), `(${this.clock.now()}`, '+inf'));
    const records = await this.records.getMany(ids);
    return records.sort((a, b) => a.createdAt - b.createdAt);
  }

  async delete(id: string): Promise<T | null> {
    const record = await this.records.take(id);
    if (record) await guarded(`${this.kind} delete`, () => this.redis.zrem(this.indexKey(record.user.id), id));
    return record;
  }

  private indexKey(userId: string): string {
    return this.k('user', userId);
  }
}

/** `durable` runs the deletion of a sign-in (sign-out, revocation), as for API tokens below. */
export class RedisLoginSessionStore extends LoginSessionRecords {
  constructor(redis: RedisClient, clock: Clock, prefix: string, durable: DurableWrite) {
    super(new RedisUserRecords<LoginSession>(redis, clock, prefix, 'session', durable));
  }
}

export class RedisApiTokenStore extends ApiTokenRecords {
  constructor(redis: RedisClient, clock: Clock, prefix: string, durable: DurableWrite) {
    super(new RedisUserRecords<StoredApiToken>(redis, clock, prefix, 'token', durable));
  }
}

// Drops the index's expired members, then adds the value unless the index already holds
// `capacity` live ones. The index (score = expiresAt on the caller's clock) is what counts
// live values; it expires with its longest-lived member.
export const PUT_BOUNDED_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[2], ARGV[4]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[3], 'GT')
return 1
`;
const putBounded = defineScript(PUT_BOUNDED_LUA);

// Leaves a live value in place (its index entry is live on the caller's clock, the only
// judge of expiry here, and its record still there: one Redis evicted or expired on another
// clock must not be reported live while get finds nothing); otherwise, as every bounded put.
const putBoundedIfAbsent = defineScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[2], ARGV[4]) and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
${PUT_BOUNDED_LUA}`);

// Removes the record and its index entry together, returning the record.
const takeIndexed = defineScript(`
local value = redis.call('GETDEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return value
`);

/**
 * JSON records of which at most `capacity` may be live at once (anyone can create them:
 * sign-in starts, client registrations). Records live at `${prefix}{kind}:record:KEY`, their
 * index at `${prefix}{kind}:index` in the same slot, always changed in the same script.
 */
export class RedisBoundedRecords<T extends { expiresAt: number }> {
  private readonly records: RedisJsonRecords<T>;
  private readonly index: string;
  private readonly fullMessage: string | undefined;
  protected readonly k: KeyNamer;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    kind: string,
    private readonly capacity: number,
    options: { fullMessage?: string } = {},
  ) {
    const k = slotKeys(prefix, kind);
    this.k = k;
    this.records = new RedisJsonRecords(redis, clock, (id) => k('record', id));
    this.index = k('index');
    this.fullMessage = options.fullMessage;
  }

  async put(key: string, value: T): Promise<void> {
    await this.write(putBounded, key, value);
  }

  /** False, writing nothing, while `key` holds a live record. */
  async putIfAbsent(key: string, value: T): Promise<boolean> {
    return (await this.write(putBoundedIfAbsent, key, value)) === 1;
  }

  /** Runs a bounded put script: 1 when it wrote, -1 when it kept what was there. */
  private async write(script: Script, key: string, value: T): Promise<number> {
    const args = [this.clock.now(), value.expiresAt, this.records.ttlMs(value.expiresAt), key, this.capacity, JSON.stringify(value)];
    const stored = await guarded('bounded put', () => script(this.redis, [this.records.key(key), this.index], args));
    if (stored === 0) throw new StoreFullError(this.fullMessage);
    return stored as number;
  }

  get(key: string): Promise<T | null> {
    return this.records.get(key);
  }

  /** The removal of the record and its index entry is one script. */
  async take(key: string): Promise<T | null> {
    const raw = await guarded('bounded take', () => takeIndexed(this.redis, [this.records.key(key), this.index], [key]));
    return this.records.live(typeof raw === 'string' ? raw : null);
  }

  /** The live records of one index: its expired members are dropped, and the rest read, in one transaction. */
  protected async liveIn(index: string): Promise<T[]> {
    const now = this.clock.now();
    const [, live] = await guarded('bounded list', () => execChecked(this.redis.multi().zremrangebyscore(index, '-inf', now).zrangebyscore(index, `(${now}`, '+inf')));
    return this.records.getMany(live as string[]);
  }
}

export class RedisOneTimeValues implements OneTimeValueStore {
  private readonly records: RedisBoundedRecords<{ value: string; expiresAt: number }>;

  constructor(redis: RedisClient, clock: Clock, prefix: string, kind: string, capacity: number) {
    this.records = new RedisBoundedRecords(redis, clock, prefix, kind, capacity);
  }

  put(key: string, value: string, expiresAt: number): Promise<void> {
    return this.records.put(key, { value, expiresAt });
  }

  putIfAbsent(key: string, value: string, expiresAt: number): Promise<boolean> {
    return this.records.putIfAbsent(key, { value, expiresAt });
  }

  async get(key: string): Promise<string | null> {
    return (await this.records.get(key))?.value ?? null;
  }

  async take(key: string): Promise<string | null> {
    return (await this.records.take(key))?.value ?? null;
  }
}

// Consumes unless a live mark exists. The stored value is the mark's expiresAt, compared
// with the caller's clock, so expiry means the same thing here as in every other store.
const consumeOnce = defineScript(`
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

export class RedisAssertionReplayCache implements AssertionReplayCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
  ) {
    this.key = looseKeys(prefix, 'saml-assertion');
  }

  private readonly key: KeyNamer;

  async consume(assertionId: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const ttl = Math.max(1, expiresAt - now);
    const result = await guarded('assertion replay check', () =>
      consumeOnce(this.redis, [this.key(assertionId)], [now, expiresAt, ttl]),
    );
    return result === 1;
  }
}
