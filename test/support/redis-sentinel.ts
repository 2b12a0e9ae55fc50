import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { startRedisServer } from './redis-server.js';
import type { RedisServerHandle } from './redis-server.js';
import { secureTopology } from './redis-security.js';
import type { RedisSecurity } from './redis-security.js';

/** The name the Sentinels monitor the primary under. */
export const SENTINEL_MASTER_NAME = 'portcullis';

/**
 * A primary, one replica and three Sentinels on loopback, as infra/ deploys them: both data
 * nodes refuse writes without a connected replica (min-replicas-to-write 1, as in
 * infra/redis.conf), the Sentinels agree on a failure with a quorum of two and notice one
 * within a second. `security` puts every server on TLS and behind passwords.
 */
export interface SentinelSetHandle {
  /** The data nodes in the order they started: [0] is the first primary. */
  readonly dataNodes: RedisServerHandle[];
  readonly sentinels: { host: string; port: number }[];
  /** The port the Sentinels name as the primary now. */
  primaryPort(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinelSet(security: RedisSecurity = {}): Promise<SentinelSetHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'));
  const secured = await secureTopology(security, dir);
  const started: RedisServerHandle[] = [];
  const dataNode = (replicaOf?: number) => (port: number) => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', dir,
    '--min-replicas-to-write', '1', '--min-replicas-max-lag', '10',
    ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
    ...secured.dataNodeArgs(port),
  ];
  try {
    const primary = await startRedisServer(dataNode(), secured.server);
    started.push(primary);
    started.push(await startRedisServer(dataNode(primary.port), secured.server));
    for (let i = 0; i < 3; i++) {
      started.push(
        await startRedisServer((port) => {
          // Sentinel rewrites its file as the topology changes: one per Sentinel, in the set's directory.
          const file = join(dir, `sentinel-${port}.conf`);
          writeFileSync(file, [
            `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'loglevel warning',
            `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
            `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
            `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
            `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
            ...secured.sentinelLines(port, SENTINEL_MASTER_NAME),
          ].join('\n') + '\n');
          return [file, '--sentinel'];
        }, secured.server),
      );
    }
  } catch (error) {
    await Promise.all(started.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const sentinels = started.slice(2).map((s) => ({ host: '127.0.0.1', port: s.port }));
  const handle: SentinelSetHandle = {
    dataNodes: started.slice(0, 2),
    sentinels,
    primaryPort: async () => {
      const sentinel = new Redis({ port: sentinels[0]!.port, host: '127.0.0.1', ...secured.sentinelClient });
      try {
        const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string];
        return Number(port);
      } finally {
        sentinel.disconnect();
      }
    },
    stop: async () => {
      await Promise.all(started.map((s) => s.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await untilReplicaInSync(started[0]!.port, secured.dataClient);
  return handle;
}

/** The primary accepts writes only once its replica is connected (min-replicas-to-write). */
async function untilReplicaInSync(primaryPort: number, options: RedisOptions): Promise<void> {
  const primary = new Redis({ port: primaryPort, host: '127.0.0.1', ...options });
  try {
    for (let attempt = 0; attempt < 500; attempt++) {
      if (/connected_slaves:1\b[\s\S]*state=online/.test(await primary.info('replication'))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the replica of ${primaryPort} never came online`);
  } finally {
    primary.disconnect();
  }
}
