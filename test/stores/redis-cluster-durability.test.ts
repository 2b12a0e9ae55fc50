import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { slotKeys } from '../../server/stores/redis/keys.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import type { ClusterShard, RedisClusterHandle } from '../support/redis-cluster.js';
import type { RedisServerHandle } from '../support/redis-server.js';

const DURABILITY = { replicas: 1, timeoutMs: 500 };
/**
 * Enough appends that a WAIT sent to a node picked at random would let one through: on a
 * primary where this connection wrote nothing, WAIT counts every replica at once.
 */
const APPENDS = 6;

const login = () => ({ type: 'auth.login' as const, outcome: 'SUCCESS' as const, actor: 'alice@example.com' });

/** Resolves once `condition` holds, trying again each time the event loop comes round. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Runs `body` with the servers frozen (SIGSTOP: connections open, nothing answers), thawing them whatever happens. */
async function whilePaused(servers: RedisServerHandle[], body: () => Promise<void>): Promise<void> {
  await Promise.all(servers.map((server) => server.pause()));
  try {
    await body();
  } finally {
    await Promise.all(servers.map((server) => server.resume()));
  }
}

describeWithRedis('durable audit appends on a Cluster (durability.replicas: 1, a replica per primary)', () => {
  let cluster: RedisClusterHandle;
  let stores: Stores;
  let streamKey: string;
  /** The primary that owns the audit stream's slot, and its replica. */
  let audit: ClusterShard;
  /** The replicas of the other primaries. */
  let elsewhere: RedisServerHandle[];
  beforeAll(async () => {
    cluster = await startRedisCluster({ replicas: 1 });
    const keyPrefix = uniquePrefix();
    streamKey = slotKeys(keyPrefix, 'audit')('stream');
    stores = createRedisStores({ nodes: cluster.nodes, keyPrefix, commandTimeoutMs: 2_000, connectTimeoutMs: 10_000, clock: systemClock, durability: DURABILITY });
    await stores.waitReady();
    audit = await cluster.shardOf(streamKey);
    elsewhere = (await cluster.shards()).filter((shard) => shard.primary !== audit.primary).flatMap((shard) => shard.replicas);
  }, 60_000);
  afterAll(async () => {
    await stores?.close();
    await cluster?.stop();
  });

  it('resolves an append once the replica of the primary owning the audit stream holds it', async () => {
    const event = await stores.audit.append(login());
    const replica = cluster.connect(audit.replicas[0]!.port);
    try {
      await replica.connect();
      await replica.readonly();
      expect(await replica.xrange(streamKey, event.id, event.id)).toHaveLength(1);
    } finally {
      replica.disconnect();
    }
  });

  it('waits on that primary: appends resolve while every other primary\'s replica is stopped', async () => {
    await whilePaused(elsewhere, async () => {
      for (let i = 0; i < APPENDS; i++) await expect(stores.audit.append(login())).resolves.toMatchObject({ type: 'auth.login' });
    });
  });

  it('refuses appends (STORE_UNAVAILABLE, never hanging) while that primary\'s replica is stopped, and resolves them again once it is back', async () => {
    await whilePaused(audit.replicas, async () => {
      for (let i = 0; i < APPENDS; i++) {
        const refused = await stores.audit.append(login()).then(() => null, (error: unknown) => error);
        expect(refused).toBeInstanceOf(StoreUnavailableError);
        expect((refused as Error).message).toMatch(/acknowledged by 0 of the 1 replicas required within 500 ms/);
      }
    });
    // Thawed, the replica catches up and acknowledges again.
    await until(() => stores.audit.append(login()).then(() => true, () => false));
  });
});
