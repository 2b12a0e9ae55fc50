import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer } from './redis-server.js';
import type { RedisServerHandle } from './redis-server.js';

const run = promisify(execFile);

/** A private Redis Cluster of three primaries (no replicas) on loopback, each with its own directory. */
export interface RedisClusterHandle {
  readonly nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
  const servers: RedisServerHandle[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedisServer((port) => [
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
        ]),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    await Promise.all(servers.map((s) => untilClusterOk(s.port)));
  } catch (error) {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Each node must know every slot's owner before clients rely on it (the gossip takes a moment). */
async function untilClusterOk(port: number): Promise<void> {
  const node = new Redis(port, '127.0.0.1', { lazyConnect: true });
  try {
    await node.connect();
    for (let attempt = 0; attempt < 500; attempt++) {
      if (/cluster_state:ok/.test(String(await node.cluster('INFO')))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`cluster node ${port} never reported cluster_state:ok`);
  } finally {
    node.disconnect();
  }
}
