import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { awaitStoreAtStart } from '../../server/stores/index.js';
import { EVICTION_POLICY_UNKNOWN, waitReady } from '../../server/stores/redis/connection.js';
import type { RedisTopology } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import type { RedisClusterHandle } from '../support/redis-cluster.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';

/** Opens the Redis store on `where` and waits for it as the broker does at start. */
async function startOn(where: RedisTopology): Promise<void> {
  const stores = createRedisStores({ ...where, keyPrefix: uniquePrefix(), clock: new ManualClock(), commandTimeoutMs: 2_000, connectTimeoutMs: 5_000 });
  try {
    await awaitStoreAtStart(stores, captureLogs().logger);
  } finally {
    await stores.close();
  }
}

/** The warnings process.emitWarning raised with `code` while `run` ran. */
async function warningsDuring(code: string, run: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error) => {
    if ((warning as Error & { code?: string }).code === code) seen.push(warning);
  };
  process.on('warning', listener);
  try {
    await run();
    // process.emitWarning emits on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describeWithRedis('the Redis store refuses to start on a Redis that evicts keys', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  beforeAll(async () => {
    // Started evicting, as a managed service's default parameter group would have it.
    server = await startRedisServer((port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
    admin = new Redis(server.url);
    await waitReady(admin, 5_000);
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  it.each(['allkeys-lru', 'volatile-lru', 'volatile-ttl', 'allkeys-random'])('refuses maxmemory-policy %s with STORE_UNSUPPORTED, naming the policy and the fix', async (policy) => {
    await admin.config('SET', 'maxmemory-policy', policy);
    await expect(startOn({ url: server.url })).rejects.toMatchObject({
      code: 'STORE_UNSUPPORTED',
      message: expect.stringMatching(new RegExp(`maxmemory-policy ${policy}\\b.*set maxmemory-policy noeviction`)),
    });
  });

  it('starts on noeviction, without a warning', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    expect(await warningsDuring(EVICTION_POLICY_UNKNOWN, () => startOn({ url: server.url }))).toEqual([]);
  });

  it('starts with a warning when Redis will not say its policy (INFO memory refused to its user)', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await admin.call('ACL', 'SETUSER', 'no-info-memory', 'on', '>secret-password', '~*', '&*', '+@all', '-info', '+info|server');
    const warnings = await warningsDuring(EVICTION_POLICY_UNKNOWN, () => startOn({ url: server.url, username: 'no-info-memory', password: 'secret-password' }));
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/make sure it is noeviction/)]);
  });
});

describeWithRedis('on a Cluster, every primary is asked', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster.stop());

  it('refuses a Cluster one of whose primaries evicts', async () => {
    await startOn({ nodes: cluster.nodes });
    const last = cluster.connect(cluster.nodes[2]!.port);
    try {
      await last.config('SET', 'maxmemory-policy', 'volatile-lfu');
      await expect(startOn({ nodes: cluster.nodes })).rejects.toMatchObject({ code: 'STORE_UNSUPPORTED', message: expect.stringContaining('maxmemory-policy volatile-lfu') });
    } finally {
      last.disconnect();
    }
  });
});
