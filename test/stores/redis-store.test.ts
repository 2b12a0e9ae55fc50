import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chainEvent, findChainBreak, GENESIS_HASH } from '../../server/audit/chain.js';
import { createRedactor } from '../../server/audit/redact.js';
import { AuditLogCorruptError, StoreUnavailableError, TrimmedCursorError } from '../../server/errors.js';
import { connectRedis, waitReady } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import { auditKeys, StreamAuditLog } from '../../server/stores/redis/stream-audit-log.js';
import type { AuditEvent, AuditLogOptions } from '../../server/audit/types.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import type { RedisTopology } from '../../server/stores/redis/connection.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import type { RedisClusterHandle } from '../support/redis-cluster.js';
import { alice, CONTRACT_AUDIT_OPTIONS, CONTRACT_ONE_TIME_CAPACITY, CONTRACT_TOOL_PIN_CAPACITY, runStoreContract } from './store-contract.js';
import type { StoreFixture } from './store-contract.js';
import { CONTRACT_USER_DIRECTORY_CAPACITY } from './user-directory-contract.js';

const timeouts = { commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 };

async function redisStores(where: string | RedisTopology, keyPrefix: string, clock: ManualClock, audit?: AuditLogOptions): Promise<Stores> {
  const stores = createRedisStores({ ...(typeof where === 'string' ? { url: where } : where), keyPrefix, clock, ...timeouts, audit, oneTimeValueCapacity: CONTRACT_ONE_TIME_CAPACITY, toolPinCapacity: CONTRACT_TOOL_PIN_CAPACITY, userDirectoryCapacity: CONTRACT_USER_DIRECTORY_CAPACITY });
  await stores.waitReady();
  return stores;
}

/** Stores opened on the shared Redis (closed after each test), and a client of its own to look at or rewrite keys. */
function sharedRedisFixture(): { open: Stores[]; admin: Redis } {
  const admin = new Redis(sharedRedisUrl, { lazyConnect: true });
  const open: Stores[] = [];
  beforeAll(async () => {
    await admin.connect();
    await waitReady(admin, 5_000);
  });
  afterAll(() => admin.disconnect());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return { open, admin };
}

/** A redis-server of the test's own (it gets killed or frozen), and stores on it. */
function privateRedis(): { server: RedisServerHandle; stores: Stores } {
  const fx = {} as { server: RedisServerHandle; stores: Stores };
  beforeAll(async () => {
    fx.server = await startRedisServer();
    fx.stores = await redisStores(fx.server.url, uniquePrefix(), new ManualClock());
  });
  afterAll(async () => {
    await fx.server.resume();
    await fx.stores.close();
    await fx.server.stop();
  });
  return fx;
}

/** The contract's fixture on a fresh key prefix of the given Redis. */
async function contractFixture(where: () => string | RedisTopology): Promise<StoreFixture> {
  const prefix = uniquePrefix();
  const clock = new ManualClock();
  return {
    stores: await redisStores(where(), prefix, clock, CONTRACT_AUDIT_OPTIONS),
    clock,
    reopen: (audit = CONTRACT_AUDIT_OPTIONS) => redisStores(where(), prefix, clock, audit),
    foreignCursor: '42',
    unissuedCursor: '99999999999999-0',
  };
}

/**
 * The whole contract on a real three-primary Cluster: it proves every multi-key operation
 * (scripts, MULTI, pipelines, the audit stream with its head) keeps its keys in one slot,
 * or the Cluster would refuse it with CROSSSLOT.
 */
describeWithRedis('redis cluster backend', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster.stop());

  runStoreContract('redis cluster', () => contractFixture(() => ({ nodes: cluster.nodes })));
});

describeWithRedis('redis backend', () => {
  runStoreContract('redis', () => contractFixture(() => sharedRedisUrl));

  describe('redis keys', () => {
    const { open, admin } = sharedRedisFixture();

    it('takes an offer for a key whose record Redis no longer holds though its index entry lives (evicted, or expired on another clock): put-if-absent agrees with get', async () => {
      const prefix = uniquePrefix();
      const clock = new ManualClock();
      const stores = await redisStores(sharedRedisUrl, prefix, clock);
      open.push(stores);
      expect(await stores.cursorKeys.putIfAbsent('k', 'first', clock.now() + 3_600_000)).toBe(true);
      await admin.del(`${prefix}{cursor-key}:record:k`);
      expect(await stores.cursorKeys.get('k')).toBeNull();
      expect(await stores.cursorKeys.putIfAbsent('k', 'second', clock.now() + 3_600_000)).toBe(true);
      expect(await stores.cursorKeys.get('k')).toBe('second');
    });

    it('gives every expiring record a TTL (only the audit stream and its head persist)', async () => {
      const prefix = uniquePrefix();
      const clock = new ManualClock();
      const stores = await redisStores(sharedRedisUrl, prefix, clock);
      open.push(stores);
      const in1h = clock.now() + 3_600_000;
      await stores.sessions.create({ id: 's', secretHash: 'h', user: alice, createdAt: clock.now(), expiresAt: in1h });
      await stores.tokens.create({ id: 't', name: 'n', user: alice, scopes: ['mcp'], secretHash: 'h', createdAt: clock.now(), expiresAt: in1h, origin: 'minted' });
      await stores.samlRequests.put('_r', 'corp', in1h);
      await stores.assertionReplay.consume('_a', in1h);
      await stores.rateLimits.limiter('edge', { points: 5, durationSeconds: 3600 }).consume('192.0.2.1');
      await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });

      const keys = await admin.keys(`${prefix}*`);
      expect(keys.sort()).toEqual(
        ['{audit}:stream', '{audit}:head', 'rate-limit:edge:192.0.2.1', 'saml-assertion:_a', '{saml-request}:index', '{saml-request}:record:_r', '{session}:record:s', '{token}:record:t', `{session}:user:${alice.id}`, `{token}:user:${alice.id}`].map((k) => prefix + k).sort(),
      );
      for (const key of keys.filter((k) => !k.includes('{audit}'))) {
        const ttl = await admin.pttl(key);
        expect(ttl, key).toBeGreaterThan(3_500_000);
        expect(ttl, key).toBeLessThanOrEqual(3_600_000);
      }
    });

    it('refuses to start, or to append, beside an audit log under the old key layout, naming it, instead of opening a second chain', async () => {
      const prefix = uniquePrefix();
      await admin.xadd(`${prefix}audit`, '*', 'h', 'x', 'e', '{}');
      const stores = createRedisStores({ url: sharedRedisUrl, keyPrefix: prefix, clock: new ManualClock(), ...timeouts });
      open.push(stores);
      await expect(stores.waitReady()).rejects.toMatchObject({ code: 'AUDIT_LEGACY_LAYOUT', message: expect.stringContaining(`${prefix}audit`) });
      // A broker that started while Redis was away meets the old log at its first append.
      await expect(stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).rejects.toMatchObject({ code: 'AUDIT_LEGACY_LAYOUT' });
      expect(await admin.exists(auditKeys(prefix)('stream'))).toBe(0);
    });

    it('refuses a key prefix with braces, which would put every key in one Cluster slot', () => {
      expect(() => createRedisStores({ url: sharedRedisUrl, keyPrefix: '{portcullis}:', clock: new ManualClock(), ...timeouts })).toThrow(/may not contain \{ or \}/);
    });

    it('chains appends from two instances sharing one stream into one chain', async () => {
      const prefix = uniquePrefix();
      const a = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      const b = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(a, b);
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: null, data: { i } })),
      );
      const log = await a.audit.read({ limit: 1000 });
      expect(log).toHaveLength(200);
      expect(findChainBreak(log, GENESIS_HASH)).toBeNull();
    });

    it('counts one rate limit across instances sharing the key prefix', async () => {
      const prefix = uniquePrefix();
      const [a, b] = await Promise.all([redisStores(sharedRedisUrl, prefix, new ManualClock()), redisStores(sharedRedisUrl, prefix, new ManualClock())]);
      open.push(a, b);
      const limit = { points: 2, durationSeconds: 60 };
      expect(await a.rateLimits.limiter('edge', limit).consume('192.0.2.1')).toEqual({ allowed: true });
      expect(await b.rateLimits.limiter('edge', limit).consume('192.0.2.1')).toEqual({ allowed: true });
      expect(await a.rateLimits.limiter('edge', limit).consume('192.0.2.1')).toMatchObject({ allowed: false });
    });

    it('chains the next event to one cut from the end of the stream, so the gap shows', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      const last = await stores.audit.append({ type: 'grant.revoked', outcome: 'SUCCESS', actor: null });
      await admin.xdel(auditKeys(prefix)('stream'), last.id);
      const fresh = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(fresh);
      // The head still names the removed event, so the next event chains to it and a
      // verifier sees the gap; nothing silently re-chains around the deletion.
      const next = await fresh.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      expect(next.prevHash).toBe(last.hash);
      const log = await fresh.audit.read({ limit: 10 });
      expect(findChainBreak(log, GENESIS_HASH)).toEqual({ index: 1, reason: 'prev_hash_mismatch' });
    });

    it('refuses a chain-start anchor when retention is not configured, wherever the log would rely on it', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      const first = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      const second = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      // Someone with write access hides the first event behind an anchor only retention writes.
      await admin.xdel(auditKeys(prefix)('stream'), first.id);
      await admin.set(auditKeys(prefix)('anchor'), JSON.stringify({ prevHash: second.prevHash, lastTrimmedId: first.id }));
      await expect(stores.audit.anchor()).rejects.toThrow(/chain-start anchor .* but audit\.retention is not configured/);
      await expect(stores.audit.read({ after: second.id, limit: 1 })).rejects.toBeInstanceOf(AuditLogCorruptError);
      const iterator = stores.audit.tail('start', new AbortController().signal)[Symbol.asyncIterator]();
      await expect(iterator.next()).rejects.toBeInstanceOf(AuditLogCorruptError);
      const withRetention = await redisStores(sharedRedisUrl, prefix, new ManualClock(), { retention: true });
      open.push(withRetention);
      expect((await withRetention.audit.anchor())?.prevHash).toBe(second.prevHash);
    });

    it('refuses to append when the chain head is lost beside a non-empty stream', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      await admin.del(auditKeys(prefix)('head'));
      await expect(stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).rejects.toBeInstanceOf(AuditLogCorruptError);
      expect(await stores.audit.read({ limit: 10 })).toHaveLength(1);
    });

    it('refuses to start a new chain from genesis when the log it was writing to is wiped (stream and head gone)', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      await admin.del(auditKeys(prefix)('stream'), auditKeys(prefix)('head'));
      await expect(stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).rejects.toBeInstanceOf(AuditLogCorruptError);
      expect(await admin.exists(auditKeys(prefix)('stream'))).toBe(0);
      // A new instance on an empty store still starts one: nothing tells it a log was there.
      const fresh = await redisStores(sharedRedisUrl, uniquePrefix(), new ManualClock());
      open.push(fresh);
      expect((await fresh.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).prevHash).toBe(GENESIS_HASH);
    });

    it('reads each event under its stream id: a stored event naming an id (or any field the chain does not cover) is refused as corrupt, not relabelled', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      for (let n = 0; n < 4; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null, data: { n } });
      const [a, x, y] = await stores.audit.read({ limit: 10 });
      // A store writer rewrites the stream with x claiming y's id: the chain, which covers no id, still holds.
      const stream = auditKeys(prefix)('stream');
      const entries = (await admin.xrange(stream, '-', '+')) as [string, string[]][];
      await admin.del(stream);
      for (const [id, fields] of entries) {
        const json = fields[fields.indexOf('e') + 1]!;
        await admin.xadd(stream, id, 'h', fields[fields.indexOf('h') + 1]!, 'e', id === x!.id ? JSON.stringify({ ...JSON.parse(json), id: y!.id }) : json);
      }
      await expect(stores.audit.read({ after: a!.id, limit: 1 })).rejects.toBeInstanceOf(AuditLogCorruptError);
      await admin.del(stream);
      for (const [id, fields] of entries) {
        const json = fields[fields.indexOf('e') + 1]!;
        await admin.xadd(stream, id, 'h', fields[fields.indexOf('h') + 1]!, 'e', id === x!.id ? JSON.stringify({ ...JSON.parse(json), note: 'nothing to see' }) : json);
      }
      await expect(stores.audit.read({ limit: 10 })).rejects.toBeInstanceOf(AuditLogCorruptError);
    });
  });

  describe('tails of the instance that committed the events', () => {
    const { open, admin } = sharedRedisFixture();

    async function collect(stores: Stores, after: string, count: number): Promise<AuditEvent[]> {
      const abort = new AbortController();
      const events: AuditEvent[] = [];
      for await (const event of stores.audit.tail({ after }, abort.signal)) if (events.push(event) === count) abort.abort();
      return events;
    }

    it('get them as committed, without parsing them back, equal to what another instance reads from the stream', async () => {
      const prefix = uniquePrefix();
      const writer = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      const other = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(writer, other);
      const start = await writer.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      const data = [
        { n: 1, nested: { list: [1, 'two', null, { deep: true }], text: 'zażółć 💡' } },
        // What JSON has no form for, and a member JSON.parse makes an own property of: stored as a reader gets them.
        Object.defineProperty({ dropped: undefined, nan: Number.NaN }, '__proto__', { value: 'own', enumerable: true }),
        { authorization: 'Bearer abc.def.ghi', params: { arguments: { password: 'hunter2', q: 'x' } } },
      ];
      const appended: AuditEvent[] = [];
      for (const d of data) appended.push(await writer.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'a@example.com', server: 'files', data: d }));
      const [own, read] = await Promise.all([collect(writer, start.id, data.length), collect(other, start.id, data.length)]);
      expect(own).toStrictEqual(read);
      expect(JSON.parse(JSON.stringify(own))).toStrictEqual(own);
      // The committed event's own data, not a copy parsed from the stream's reply.
      own.forEach((event, i) => expect(event.data).toBe(appended[i]!.data));
      read.forEach((event, i) => expect(event.data).not.toBe(appended[i]!.data));
    });

    it('get what the stream holds when an entry under one of those ids is another event (a store that failed over and reissued the id)', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      const first = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null, data: { n: 1 } });
      const mine = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n: 2 } });
      const theirs = chainEvent({ type: 'auth.login', outcome: 'SUCCESS', actor: 'b@example.com', data: { n: 3 } }, mine.time, first.hash);
      const stream = auditKeys(prefix)('stream');
      const [, kept] = ((await admin.xrange(stream, first.id, first.id)) as [string, string[]][])[0]!;
      await admin.del(stream);
      await admin.xadd(stream, first.id, ...kept);
      await admin.xadd(stream, mine.id, 'h', theirs.event.hash, 'e', theirs.json);
      const [event] = await collect(stores, first.id, 1);
      expect(event).toStrictEqual({ ...theirs.event, id: mine.id });
    });

    it('get what the stream holds when the entry they committed was rewritten there, as every other reader does', async () => {
      const prefix = uniquePrefix();
      const stores = await redisStores(sharedRedisUrl, prefix, new ManualClock());
      open.push(stores);
      const first = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null, data: { n: 1 } });
      const mine = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { note: 'real' } });
      // The entry's hash field kept, its event not: only a verifier tells; until then every reader must read the same.
      const stream = auditKeys(prefix)('stream');
      const entries = (await admin.xrange(stream, '-', '+')) as [string, string[]][];
      await admin.del(stream);
      for (const [id, fields] of entries) {
        const json = fields[fields.indexOf('e') + 1]!;
        await admin.xadd(stream, id, 'h', fields[fields.indexOf('h') + 1]!, 'e', id === mine.id ? json.replace('"real"', '"forged"') : json);
      }
      const [event] = await collect(stores, first.id, 1);
      expect(event!.data).toEqual({ note: 'forged' });
      expect(event).toStrictEqual((await stores.audit.read({ after: first.id, limit: 1 }))[0]);
    });
  });

  describe('live audit tails', () => {
    const fx = privateRedis();

    it('share one blocking connection however many there are, and each sees every event in order', async () => {
      const admin = new Redis(fx.server.url);
      await waitReady(admin, 5_000);
      const connections = async () => String(await admin.client('LIST')).trim().split('\n').length;
      const before = await connections();
      const abort = new AbortController();
      const start = await fx.stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n: -1 } });
      const seen: number[][] = Array.from({ length: 300 }, () => []);
      const tails = seen.map(async (events, i) => {
        for await (const event of fx.stores.audit.tail({ after: start.id }, abort.signal)) {
          events.push(event.data.n as number);
          // Some readers are slow: they fall behind the feed and must catch up on their own.
          if (i % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
          if (events.length === 40) return;
        }
      });
      await expect.poll(async () => (await connections()) - before).toBe(1);
      for (let n = 0; n < 40; n++) await fx.stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
      await Promise.all(tails);
      abort.abort();
      expect(seen.every((events) => events.join() === Array.from({ length: 40 }, (_, n) => n).join())).toBe(true);
      expect((await connections()) - before).toBeLessThanOrEqual(1);
      admin.disconnect();
    });
  });

  describe('audit readers when another instance trims just before their read', () => {
    const open: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });

    /**
     * Ten events, the instance that wrote them (retention on), and a reader on a connection
     * of its own whose next XRANGE reaches Redis only once that instance has trimmed: the
     * moment a check made before the read would miss, hit every time rather than by luck.
     */
    async function overtakenReader() {
      const prefix = uniquePrefix();
      const writer = await redisStores(sharedRedisUrl, prefix, new ManualClock(), { retention: true });
      open.push(() => writer.close());
      const events = [];
      for (let n = 1; n <= 10; n++) events.push(await writer.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null, data: { n } }));
      const client = connectRedis({ url: sharedRedisUrl, ...timeouts }) as Redis;
      await waitReady(client, 5_000);
      const reader = new StreamAuditLog(client, new ManualClock(), prefix, timeouts, createRedactor(), { retention: true });
      open.push(async () => {
        reader.close();
        client.disconnect();
      });
      const trimBeforeNextRead = (keep: number) => {
        const xrange = client.xrange;
        client.xrange = (async (...args: unknown[]) => {
          client.xrange = xrange;
          await writer.audit.trim({ keep });
          return (xrange as (...a: unknown[]) => Promise<unknown>).apply(client, args);
        }) as typeof xrange;
      };
      return { events, reader, trimBeforeNextRead };
    }

    it('refuses a read page whose next events the trim removed, instead of skipping them', async () => {
      const { events, reader, trimBeforeNextRead } = await overtakenReader();
      trimBeforeNextRead(3);
      await expect(reader.read({ after: events[2]!.id, limit: 10 })).rejects.toBeInstanceOf(TrimmedCursorError);
    });

    it('refuses a tail whose next events the trim removed, instead of skipping them', async () => {
      const { events, reader, trimBeforeNextRead } = await overtakenReader();
      const tail = reader.tail({ after: events[2]!.id }, AbortSignal.timeout(10_000))[Symbol.asyncIterator]();
      trimBeforeNextRead(3);
      await expect(tail.next()).rejects.toBeInstanceOf(TrimmedCursorError);
    });

    it('goes on from a cursor the trim left retained', async () => {
      const { events, reader, trimBeforeNextRead } = await overtakenReader();
      // Keeping 7 removes events 1 to 3: a cursor at event 3 still misses nothing.
      trimBeforeNextRead(7);
      expect((await reader.read({ after: events[2]!.id, limit: 10 })).map((e) => e.data.n)).toEqual([4, 5, 6, 7, 8, 9, 10]);

      const again = await overtakenReader();
      const abort = new AbortController();
      const seen: unknown[] = [];
      again.trimBeforeNextRead(7);
      for await (const event of again.reader.tail({ after: again.events[2]!.id }, abort.signal)) {
        seen.push(event.data.n);
        if (seen.length === 7) abort.abort();
      }
      expect(seen).toEqual([4, 5, 6, 7, 8, 9, 10]);
    });
  });

  describe('when Redis hangs', () => {
    const fx = privateRedis();

    it('fails a command that gets no answer with StoreUnavailableError once commandTimeoutMs passes', async () => {
      await fx.server.pause();
      const started = Date.now();
      await expect(fx.stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(fx.stores.sessions.get('s')).rejects.toBeInstanceOf(StoreUnavailableError);
      // Bounded, not hanging: generous margin over the 1 s command timeout for a loaded machine.
      expect(Date.now() - started).toBeLessThan(15_000);
      await fx.server.resume();
    });
  });

  describe('when Redis goes away', () => {
    const fx = privateRedis();

    it('fails every operation with StoreUnavailableError instead of waiting or succeeding', async () => {
      await fx.server.kill();
      const now = Date.now();
      const attempts: Promise<unknown>[] = [
        fx.stores.ping(),
        fx.stores.sessions.get('s'),
        fx.stores.sessions.create({ id: 's', secretHash: 'h', user: alice, createdAt: now, expiresAt: now + 60_000 }),
        fx.stores.tokens.get('t'),
        fx.stores.tokens.listByUser(alice.id),
        fx.stores.samlRequests.take('_r'),
        fx.stores.assertionReplay.consume('_a', now + 60_000),
        fx.stores.rateLimits.limiter('edge', { points: 5, durationSeconds: 60 }).consume('192.0.2.1'),
        fx.stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null }),
        fx.stores.audit.read({ limit: 1 }),
        fx.stores.access.getRequest('r'),
        fx.stores.access.listGrants({ limit: 1 }),
        fx.stores.access.dueRequests(now, 1),
        fx.stores.access.withLock('k', async () => 'ran'),
      ];
      // All judged at once: an attempt that fails later (the audit append waits for the end of the turn) must not leave the others' rejections unheard meanwhile.
      await Promise.all(attempts.map((attempt) => expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError)));
    });

    it('works again once Redis is back', async () => {
      await fx.server.restart();
      await fx.stores.waitReady();
      const e = await fx.stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null });
      expect(e.prevHash).toBe(GENESIS_HASH);
      expect(await fx.stores.audit.read({ limit: 10 })).toEqual([e]);
    });
  });
});
