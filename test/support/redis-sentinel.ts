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

/** How the harness's own connections reach the data nodes and the Sentinels (TLS, passwords: `security`). */
interface Clients {
  data: RedisOptions;
  sentinel: RedisOptions;
}

/** How long the set may take to settle after a change (a failover, a node rejoining) before a test fails instead of hanging. */
const SETTLE_MS = 30_000;

/**
 * A primary, one replica and three Sentinels on loopback, as infra/ deploys them: both data
 * nodes refuse writes without a connected replica (min-replicas-to-write 1, as in
 * infra/redis.conf), the Sentinels agree on a failure with a quorum of two and call a node
 * down after five seconds without an answer (as infra/compose does: on a loaded machine a
 * node that is alive can be silent for over a second, and a shorter wait brings failovers
 * nobody caused, in the middle of a test). `security` puts every server on TLS and behind passwords.
 */
export interface SentinelSetHandle {
  /**
   * The data nodes in the order they started: [0] is the first primary. `restart` brings a
   * killed node back as a replica of the primary the Sentinels name, never as a primary of
   * its own (see rejoin below).
   */
  readonly dataNodes: RedisServerHandle[];
  readonly sentinels: { host: string; port: number }[];
  /** The port the Sentinels name as the primary now. */
  primaryPort(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinelSet(security: RedisSecurity = {}): Promise<SentinelSetHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'));
  const secured = await secureTopology(security, dir);
  const clients: Clients = { data: secured.dataClient, sentinel: secured.sentinelClient };
  const started: RedisServerHandle[] = [];
  // `role` is read at every (re)start of the node: one restarted after a failover follows the new primary.
  const dataNode = async (replicaOf?: number) => {
    const role = { replicaOf };
    const node = await startRedisServer((port) => [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', dir,
      '--min-replicas-to-write', '1', '--min-replicas-max-lag', '10',
      // A replica that (re)joins is sent the data set at once, not after the default 5 s wait for others to join too.
      '--repl-diskless-sync-delay', '0',
      ...(role.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(role.replicaOf)]),
      ...secured.dataNodeArgs(port),
    ], secured.server);
    started.push(node);
    return { node, role };
  };
  try {
    const primary = await dataNode();
    const replica = await dataNode(primary.node.port);
    for (let i = 0; i < 3; i++) {
      started.push(
        await startRedisServer((port) => {
          // Sentinel rewrites its file as the topology changes: one per Sentinel, in the set's directory.
          const file = join(dir, `sentinel-${port}.conf`);
          writeFileSync(file, [
            `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'loglevel warning',
            `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primary.node.port} 2`,
            `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 5000`,
            `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
            `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
            ...secured.sentinelLines(port, SENTINEL_MASTER_NAME),
          ].join('\n') + '\n');
          return [file, '--sentinel'];
        }, secured.server),
      );
    }
    const sentinels = started.slice(2).map((s) => ({ host: '127.0.0.1', port: s.port }));
    await untilSynced(primary.node.port, replica.node.port, clients.data);
    return {
      dataNodes: [primary, replica].map(({ node, role }) => ({ ...node, restart: () => rejoin(node, role, sentinels, clients) })),
      sentinels,
      primaryPort: () => primaryNamedBy(sentinels[0]!.port, clients.sentinel),
      stop: async () => {
        await Promise.all(started.map((s) => s.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A killed data node comes back as a replica of the primary every Sentinel names, and
 * counts as back once it holds all that primary had and every Sentinel sees it up (a
 * replica they cannot reach is no candidate for the next failover). Started as it first
 * was, it would come back as an empty primary (no persistence here): until the Sentinels
 * turn it into a replica, seconds later, a client asking a Sentinel that has not yet heard
 * of the failover can be sent to it and find nothing there (tokens, grants, the audit head);
 * restarted before the failover, it would stay primary and its replica would copy its
 * emptiness. Hence docs/redis.md: a primary without persistence must not restart on its own.
 */
async function rejoin(node: RedisServerHandle, role: { replicaOf?: number }, sentinels: readonly { port: number }[], clients: Clients): Promise<void> {
  let primary: number | undefined;
  await settle(`every Sentinel naming a primary other than ${node.port}`, async () => {
    const named = await Promise.all(sentinels.map((sentinel) => primaryNamedBy(sentinel.port, clients.sentinel))).catch(() => []);
    primary = named[0];
    return named.length > 0 && primary !== node.port && named.every((port) => port === primary);
  });
  role.replicaOf = primary;
  await node.restart();
  await untilSynced(primary!, node.port, clients.data);
  await settle(`every Sentinel seeing ${node.port} up as a replica`, async () => {
    const seen = await Promise.all(sentinels.map((sentinel) => replicaFlags(sentinel.port, node.port, clients.sentinel))).catch(() => []);
    return seen.length > 0 && seen.every((flags) => flags === 'slave');
  });
}

/**
 * The replica is connected, done loading, and has acknowledged everything the primary had
 * written when the wait began (replicas acknowledge once a second).
 */
async function untilSynced(primaryPort: number, replicaPort: number, options: RedisOptions): Promise<void> {
  const primary = new Redis({ port: primaryPort, host: '127.0.0.1', ...options });
  const replica = new Redis({ port: replicaPort, host: '127.0.0.1', ...options });
  try {
    const target = Number(/master_repl_offset:(\d+)/.exec(await primary.info('replication'))?.[1]);
    let seen = '';
    await settle(`${replicaPort} in sync with ${primaryPort}`, async () => {
      const [link, listed] = await Promise.all([replica.info('replication'), primary.info('replication')]);
      seen = `${replicaPort}: ${link.replace(/\r?\n/g, ' ')}; ${primaryPort}: ${listed.replace(/\r?\n/g, ' ')}`;
      const acknowledged = new RegExp(`slave\\d+:ip=[^,]+,port=${replicaPort},state=online,offset=(\\d+)`).exec(listed)?.[1];
      return /master_link_status:up/.test(link) && /master_sync_in_progress:0/.test(link) && Number(acknowledged) >= target;
    }, () => seen);
  } finally {
    primary.disconnect();
    replica.disconnect();
  }
}

function primaryNamedBy(sentinelPort: number, options: RedisOptions): Promise<number> {
  return askSentinel(sentinelPort, options, async (sentinel) => {
    const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string];
    return Number(port);
  });
}

/** How a Sentinel sees the replica on `port` ('slave' when up; with s_down or disconnected when not); undefined when it lists none there. */
function replicaFlags(sentinelPort: number, port: number, options: RedisOptions): Promise<string | undefined> {
  return askSentinel(sentinelPort, options, async (sentinel) => {
    // Each replica is a flat list of field, value pairs.
    const replicas = (await sentinel.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][];
    const field = (flat: string[], name: string) => flat.find((_, i) => i % 2 === 1 && flat[i - 1] === name);
    return field(replicas.find((flat) => field(flat, 'port') === String(port)) ?? [], 'flags');
  });
}

async function askSentinel<T>(sentinelPort: number, options: RedisOptions, ask: (sentinel: Redis) => Promise<T>): Promise<T> {
  const sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', ...options });
  try {
    return await ask(sentinel);
  } finally {
    sentinel.disconnect();
  }
}

/**
 * Resolves once `condition` holds; throws after SETTLE_MS (with what was `seen` last), so a
 * set that never settles fails the test instead of hanging it.
 */
async function settle(what: string, condition: () => Promise<boolean>, seen: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`the Sentinel set did not settle within ${SETTLE_MS} ms: ${what} ${seen()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
