import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedisServer } from './redis-server.js';
import type { RedisServerHandle } from './redis-server.js';
import { secureTopology } from './redis-security.js';
import type { RedisSecurity } from './redis-security.js';

const run = promisify(execFile);

const PRIMARIES = 3;

export interface RedisClusterOptions {
  /** Replicas per primary (default none). */
  replicas?: number;
  /** Every node on TLS and behind a password (see RedisSecurity). */
  security?: RedisSecurity;
}

/** One primary and its replicas: the nodes that hold one range of slots. */
export interface ClusterShard {
  primary: RedisServerHandle;
  replicas: RedisServerHandle[];
}

/** A private Redis Cluster of three primaries (and their replicas, if asked) on loopback, each with its own directory. */
export interface RedisClusterHandle {
  /** Every node, primaries first. */
  readonly nodes: { host: string; port: number }[];
  /** The shards, and which of them holds `key`'s slot (by its hash tag, as the broker's keys are placed). */
  shards(): Promise<ClusterShard[]>;
  shardOf(key: string): Promise<ClusterShard>;
  /** The harness's own connection to one node (TLS and password as the cluster needs). */
  connect(port: number): Redis;
  stop(): Promise<void>;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const replicas = options.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
  const secured = await secureTopology(options.security ?? {}, dir);
  const servers: RedisServerHandle[] = [];
  const connect = (port: number) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, ...secured.dataClient });
  try {
    for (let i = 0; i < PRIMARIES * (1 + replicas); i++) {
      // The bus port is its own: port + 10000 (the default) is out of range above 55535, where free ports often are.
      const bus = await freePort();
      servers.push(
        await startRedisServer(
          (port) => [
            '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
            '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-port', String(bus), '--dir', dir,
            ...secured.dataNodeArgs(port),
          ],
          secured.server,
        ),
      );
    }
    // redis-cli makes the first three primaries and gives each the next ones as replicas.
    await run('redis-cli', [...secured.cliArgs, '--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    await Promise.all(servers.map((s) => untilClusterOk(connect(s.port))));
  } catch (error) {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const byPort = new Map(servers.map((s) => [s.port, s]));
  const shards = async (): Promise<(ClusterShard & { slots: number[] })[]> => {
    const node = connect(servers[0]!.port);
    try {
      await node.connect();
      return ((await node.call('CLUSTER', 'SHARDS')) as unknown[][]).map((shard) => {
        const fields = pairs(shard);
        const members = (fields.get('nodes') as unknown[][]).map(pairs);
        const port = (member: Map<string, unknown>) => byPort.get(Number(member.get('tls-port') ?? member.get('port')))!;
        return {
          slots: (fields.get('slots') as number[]).map(Number),
          primary: port(members.find((m) => m.get('role') === 'master')!),
          replicas: members.filter((m) => m.get('role') === 'replica').map(port),
        };
      });
    } finally {
      node.disconnect();
    }
  };
  // Each node learns the others' roles by gossip: the first node's CLUSTER SHARDS (what the
  // tests read) can still miss a replica whose replication is already up.
  for (let attempt = 0; replicas > 0 && !(await shards()).every((shard) => shard.replicas.length === replicas); attempt++) {
    if (attempt === 500) {
      await Promise.all(servers.map((s) => s.kill()));
      rmSync(dir, { recursive: true, force: true });
      throw new Error('the cluster never showed every primary with its replicas');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    shards,
    shardOf: async (key) => {
      const node = connect(servers[0]!.port);
      const slot = await node.connect().then(() => node.cluster('KEYSLOT', key)).finally(() => node.disconnect());
      const owner = (await shards()).find(({ slots }) => slots.some((start, i) => i % 2 === 0 && start <= slot && slot <= slots[i + 1]!));
      if (!owner) throw new Error(`no shard holds slot ${slot}`);
      return owner;
    },
    connect,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A map in CLUSTER SHARDS's reply as ioredis hands it over: a flat list of names and values. */
function pairs(flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  return map;
}

/**
 * Each node must know every slot's owner before clients rely on it (the gossip takes a
 * moment), and a replica must have synced with its primary before a WAIT can count it.
 */
async function untilClusterOk(node: Redis): Promise<void> {
  try {
    await node.connect();
    for (let attempt = 0; attempt < 500; attempt++) {
      const ok = /cluster_state:ok/.test(String(await node.cluster('INFO')));
      const replication = await node.info('replication');
      if (ok && (!/role:slave/.test(replication) || /master_link_status:up/.test(replication))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`cluster node ${node.options.port} never reported cluster_state:ok with its replication up`);
  } finally {
    node.disconnect();
  }
}
