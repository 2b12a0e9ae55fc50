import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { AnomalyRecord } from '../../server/detection/types.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { emailKey } from '../../server/identity/email-key.js';
import { RedisAccessStore } from '../../server/stores/redis/access-store.js';
import { RedisAnomalyStore } from '../../server/stores/redis/anomaly-store.js';
import { connectRedis, durableWrites, waitReady } from '../../server/stores/redis/connection.js';
import type { RedisClient } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import { RedisLeaseStore } from '../../server/stores/redis/lease-store.js';
import { redisScimStore } from '../../server/stores/redis/scim-store.js';
import type { Stores } from '../../server/stores/types.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { alice, grantRecord, requestRecord } from './store-contract.js';

/** Short, so that a pause of STALL_MS times every command out that meets it. */
const COMMAND_TIMEOUT_MS = 150;
const STALL_MS = 1_000;

const anomaly: AnomalyRecord = {
  id: 'an_1',
  rule: 'probing',
  severity: 'high',
  score: 1.4,
  summary: 'anomaly',
  observed: {},
  baseline: {},
  eventIds: ['1'],
  at: new Date().toISOString(),
  user: alice.email!,
  server: 'everything',
  tool: 'echo',
  sessionId: 's-1',
  grantId: null,
  status: 'open',
  auditEventId: '1',
  responses: [],
  acknowledgedBy: null,
  acknowledgedAt: null,
  note: null,
  version: 1,
};

/** A private redis-server (its configuration is changed), an admin connection to it, and the stores' client with short timeouts. */
function privateRedis() {
  const fx = {} as { server: RedisServerHandle; admin: Redis; client: RedisClient };
  beforeAll(async () => {
    fx.server = await startRedisServer();
    fx.admin = new Redis(fx.server.url);
    fx.client = connectRedis({ url: fx.server.url, commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 2_000 });
    await Promise.all([waitReady(fx.admin, 5_000), waitReady(fx.client, 5_000)]);
  });
  afterAll(async () => {
    fx.client.disconnect();
    fx.admin.disconnect();
    await fx.server.stop();
  });
  return fx;
}

describeWithRedis('Redis commands that fail inside a pipeline or a transaction', () => {
  const fx = privateRedis();
  const clock = new ManualClock();

  /**
   * Pauses every client of the server (CLIENT PAUSE) just as the client's next pipeline is
   * sent: the read before it has answered, the pipeline's commands time out one by one,
   * and ioredis resolves exec() with an error in each reply.
   */
  function stallNextPipeline(): void {
    const pipeline = fx.client.pipeline.bind(fx.client);
    fx.client.pipeline = ((...args: Parameters<typeof pipeline>) => {
      fx.client.pipeline = pipeline;
      const batch = pipeline(...args);
      const exec = batch.exec.bind(batch);
      batch.exec = async () => {
        await fx.admin.call('CLIENT', 'PAUSE', String(STALL_MS), 'ALL');
        return exec();
      };
      return batch;
    }) as typeof pipeline;
  }

  afterEach(async () => {
    // The pause ends on its own; the next test starts once the server answers again.
    await fx.admin.ping();
  });

  /** A grant that is active, and its request still pending another reviewer (both listed and indexed). */
  async function accessStore(): Promise<RedisAccessStore> {
    const store = new RedisAccessStore(fx.client, clock, uniquePrefix(), durableWrites(fx.client, undefined));
    const request = requestRecord('r1', clock, { status: 'APPROVED', grantId: 'g1', decidedAt: clock.now() });
    await store.createRequest(request, grantRecord('g1', request, clock));
    await store.createRequest(requestRecord('r2', clock));
    return store;
  }

  it.each([
    ['active grants (SCIM deprovisioning, anomaly auto-revoke)', (store: RedisAccessStore) => store.activeGrants(clock.now())],
    ['pending requests', (store: RedisAccessStore) => store.pendingRequests(clock.now())],
    ['a grant listing', (store: RedisAccessStore) => store.listGrants({ limit: 10 })],
    ['a request listing', (store: RedisAccessStore) => store.listRequests({ limit: 10 })],
  ])('fails %s with StoreUnavailableError when the records\' reads time out, instead of answering "none"', async (_, read) => {
    const store = await accessStore();
    expect(await read(store)).not.toEqual([]);
    stallNextPipeline();
    await expect(read(store)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('fails an anomaly listing with StoreUnavailableError when the records\' reads time out', async () => {
    const store = new RedisAnomalyStore(fx.client, clock, uniquePrefix(), 3);
    await store.create(anomaly, 10);
    stallNextPipeline();
    await expect(store.list({ limit: 10 })).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('fails a lease renewal and a SCIM sighting whose transaction Redis ran with a failed command, instead of reporting them done', async () => {
    const prefix = uniquePrefix();
    await fx.admin.set(`${prefix}lease:u1`, 'not a sorted set');
    await expect(new RedisLeaseStore(fx.client, clock, prefix).renew('u1', ['a'], clock.now() + 60_000)).rejects.toThrow(/^WRONGTYPE/);
    await fx.admin.set(`${prefix}{scim:corp}:seen:${emailKey('alice@example.com')}`, 'not a set');
    await expect(redisScimStore(fx.client, prefix, 10).sighted('corp', ['alice@example.com'], alice.id)).rejects.toThrow(/^WRONGTYPE/);
  });

  it('fails a transaction Redis refuses for want of replicas (EXECABORT after NOREPLICAS) with StoreUnavailableError, as one command would', async () => {
    await fx.admin.config('SET', 'min-replicas-to-write', '1');
    try {
      await expect(new RedisLeaseStore(fx.client, clock, uniquePrefix()).renew('u1', ['a'], clock.now() + 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await fx.admin.config('SET', 'min-replicas-to-write', '0');
    }
  });
});

describeWithRedis('Redis error replies reach the caller without the command that failed', () => {
  const fx = privateRedis();
  const clock = new ManualClock();
  let stores: Stores;
  const prefix = uniquePrefix();
  beforeAll(async () => {
    stores = createRedisStores({ url: fx.server.url, keyPrefix: prefix, clock, commandTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
    await stores.waitReady();
  });
  afterAll(() => stores.close());

  /** What the broker's logger writes of the error: every enumerable property (pino's serializer), `command` included. */
  function logged(error: unknown): string {
    const { logger, lines } = captureLogs();
    logger.error({ err: error }, 'store write failed');
    return lines.join('');
  }

  /** The error `attempt` is refused with, once Redis has no memory left to write (maxmemory 1, noeviction). */
  async function refusedOutOfMemory(attempt: () => Promise<unknown>): Promise<unknown> {
    await fx.admin.config('SET', 'maxmemory', '1');
    try {
      return await attempt().then(() => null, (error: unknown) => error);
    } finally {
      await fx.admin.config('SET', 'maxmemory', '0');
    }
  }

  it('a refused SET (OOM) carries Redis\'s words, not the record it was writing', async () => {
    const secret = 'refresh-token-hash-0123456789';
    const error = await refusedOutOfMemory(() => stores.oauth.refreshTokens.put('rt1', { secretHash: secret, familyId: 'f1', clientId: 'c', rotated: false, expiresAt: clock.now() + 60_000 }));
    expect(error).toMatchObject({ message: expect.stringMatching(/^OOM /) });
    expect(error).not.toHaveProperty('command');
    expect(logged(error)).not.toContain(secret);
  });

  it('a transaction refused as a whole (EXECABORT after OOM) carries none of the queued commands', async () => {
    const secret = 'session-secret-hash-0123456789';
    const error = await refusedOutOfMemory(() => stores.sessions.create({ id: 's1', secretHash: secret, user: alice, createdAt: clock.now(), expiresAt: clock.now() + 60_000 }));
    expect(error).toMatchObject({ message: expect.stringMatching(/^OOM /) });
    expect(error).not.toHaveProperty('command');
    expect(error).not.toHaveProperty('previousErrors');
    expect(logged(error)).not.toContain(secret);
  });

  it('a command failing inside a pipeline (WRONGTYPE) is thrown without its arguments', async () => {
    const request = requestRecord('r-wrong', clock, { status: 'APPROVED', grantId: 'g-wrong' });
    await stores.access.createRequest(request, grantRecord('g-wrong', request, clock));
    await fx.admin.del(`${prefix}{access}:grant:g-wrong`);
    await fx.admin.set(`${prefix}{access}:grant:g-wrong`, 'planted');
    const error = await stores.access.activeGrants(clock.now()).then(() => null, (e: unknown) => e);
    expect(error).toMatchObject({ message: expect.stringMatching(/^WRONGTYPE/) });
    expect(error).not.toHaveProperty('command');
    expect(logged(error)).not.toContain('g-wrong');
  });
});
