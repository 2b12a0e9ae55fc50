import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, ReplyError } from 'ioredis';
import type { ChainableCommander, RedisOptions } from 'ioredis';
import { PortcullisError, StoreUnavailableError } from '../../errors.js';
import { keepSocketErrorsHandled, reportSocketErrors } from './socket-errors.js';

/** A single Redis (given by URL or found through Sentinel) or a Cluster: the stores use only what both offer. */
export type RedisClient = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
}

/** Where Redis is: exactly one of `url`, `sentinels` (with `name`) or `nodes` (a Cluster). */
export interface RedisTopology {
  url?: string;
  sentinels?: RedisNode[];
  /** The primary's name as the Sentinels know it. */
  name?: string;
  nodes?: RedisNode[];
  /** ACL user and password of the data nodes (with `url`, they are inside it). */
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** TLS to the data nodes and the Sentinels (with `url`, `rediss://` says it). */
  tls?: boolean;
  /** PEM of the CA that issued the servers' certificates, trusted alone; absent: Node's CAs, plus NODE_EXTRA_CA_CERTS. */
  ca?: string;
}

export interface RedisConnectionOptions extends RedisTopology {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * A client that fails fast instead of queueing: with the offline queue off, a command
 * issued while Redis is unreachable (or while Sentinel or the Cluster is still finding
 * the new primary) is rejected at once, and `commandTimeout` bounds the wait for one that
 * was sent. Reconnection keeps going in the background; ioredis asks the Sentinels for
 * the current primary on every reconnect, and follows a Cluster's MOVED redirections.
 *
 * A Cluster's node connections stay lazy (ioredis's own default for them): a node's first
 * command opens its connection and waits for the handshake, within `commandTimeout`. Made
 * eager, they were still mid-handshake when the Cluster sent its readiness check to one
 * of them, which the Cluster then refused as a closed connection and started over, after
 * a growing pause: over TLS, connecting took seconds, or failed within connectTimeoutMs.
 */
export function connectRedis(options: RedisConnectionOptions): RedisClient {
  keepSocketErrorsHandled();
  const retry = (attempt: number) => Math.min(50 * 2 ** attempt, 2_000);
  const tls = options.tls || options.url?.startsWith('rediss://') ? verifiedTls(options.ca) : undefined;
  const common: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: retry,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(tls ? { tls } : {}),
  };
  const client = options.nodes
    ? new Cluster(options.nodes, { enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: common })
    : options.sentinels
      ? new Redis({
          ...common,
          sentinels: options.sentinels,
          name: options.name!,
          sentinelRetryStrategy: retry,
          ...(options.sentinelUsername === undefined ? {} : { sentinelUsername: options.sentinelUsername }),
          ...(options.sentinelPassword === undefined ? {} : { sentinelPassword: options.sentinelPassword }),
          ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
        })
      : new Redis(options.url!, common);
  // Errors surface through the failed commands; without a listener ioredis prints them.
  client.on('error', () => {});
  // The reason a handshake failed, which ioredis loses on the connections it opens itself.
  if (tls) reportSocketErrors(tls, (error) => client.emit(SOCKET_ERROR, error));
  return client;
}

/** Emitted by a client for each failed socket of its TLS connections, whoever opened it. */
const SOCKET_ERROR = 'socket error';

/**
 * Certificates are always verified, the name included (Node's default, stated so that no
 * option merged in by ioredis can turn it off): the address a Sentinel or the Cluster
 * names must be one the node's certificate carries. A private CA replaces Node's roots
 * rather than joining them: only the servers it issued are Redis to this broker.
 */
function verifiedTls(ca: string | undefined): ConnectionOptions {
  return { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) };
}

/** A second connection to the same Redis (a blocking reader, a subscriber), with some options changed. */
export function duplicateClient(client: RedisClient, override: Partial<RedisOptions> = {}): RedisClient {
  const copy =
    client instanceof Cluster
      ? client.duplicate([], { enableOfflineQueue: override.enableOfflineQueue ?? client.options.enableOfflineQueue, redisOptions: { ...client.options.redisOptions, ...override } })
      : client.duplicate(override);
  copy.on('error', () => {});
  return copy;
}

/**
 * Resolves once the client is ready; rejects after the timeout or when the signal aborts,
 * saying why the last attempt failed (a refused password, a certificate that does not
 * verify), so that an operator sees a misconfiguration rather than silence.
 */
export function waitReady(client: RedisClient, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    // A socket's failure (a certificate refused, a port closed) is the cause of whatever the client says next.
    let socketFailure = '';
    let clientFailure = '';
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('node error', onError);
      client.off(SOCKET_ERROR, onSocketError);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onError = (error: unknown) => {
      const failure = connectFailure(error);
      if (!clientFailure || failure !== CONNECTION_CLOSED) clientFailure = failure;
    };
    const onSocketError = (error: Error) => (socketFailure = error.message);
    const onAbort = () => done(new StoreUnavailableError('connect (aborted)'));
    const timer = setTimeout(() => {
      const failure = socketFailure || clientFailure;
      done(new StoreUnavailableError(`connect (no answer within ${timeoutMs} ms${failure && `; last attempt: ${failure}`})`));
    }, timeoutMs);
    client.once('ready', onReady);
    client.on('error', onError);
    // A Cluster reports a node's refusal there, and only "Failed to refresh slots cache" as its own error.
    client.on('node error', onError);
    client.on(SOCKET_ERROR, onSocketError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What ioredis says of a command whose connection failed: the failure's cause, if known, says more. */
const CONNECTION_CLOSED = 'Connection is closed.';

/**
 * Why a connection attempt failed, in the words of Redis or of TLS. Only the message: the
 * error itself must not travel on (as a cause, into a log line), since ioredis attaches the
 * command that failed, and the handshake's HELLO carries the password.
 */
function connectFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { lastNodeError } = error as { lastNodeError?: unknown };
  return lastNodeError instanceof Error ? lastNodeError.message : error.message;
}

/** Error replies that mean "not now" (loading, failing over, read-only replica, too few replicas for min-replicas-to-write), not "wrong". */
const AVAILABILITY_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/**
 * Runs a store operation, turning transport failures (closed connection, timeout) into
 * StoreUnavailableError. Redis's own error replies pass through: they are bugs or
 * tampering, not an outage, and must not be retried as one.
 */
export async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    const reply = error instanceof ReplyError ? replyAlone(error as Error) : error;
    if (reply instanceof ReplyError && !AVAILABILITY_REPLIES.test((reply as Error).message)) throw reply;
    throw new StoreUnavailableError(operation, reply);
  }
}

/**
 * Redis's error reply without what ioredis attaches to it: the failed command with its
 * arguments (record JSON, identities, hashes) and, for a refused transaction, the queued
 * commands' errors with theirs. A logger writes every enumerable property of an error.
 */
function replyAlone(error: Error): Error {
  return new ReplyError(error.message) as Error;
}

/**
 * The replies of a pipeline or transaction, once none of its commands failed. ioredis
 * resolves exec() even when some did (timed out, cut off with the connection, refused),
 * leaving each error in its reply: a reader taking such a reply for a missing record would
 * answer "none" during an outage. A transaction Redis refused as a whole (EXECABORT) fails
 * with the first refusal behind it (READONLY, NOREPLICAS, OOM), so that guarded tells an
 * outage from a bug as it does for one command.
 */
export async function execChecked(batch: ChainableCommander): Promise<unknown[]> {
  const replies = await batch.exec().catch((error: unknown) => {
    throw (error as { previousErrors?: unknown[] }).previousErrors?.[0] ?? error;
  });
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw failed?.[0] ?? new Error('transaction aborted');
  return replies.map(([, value]) => value);
}

/**
 * A Lua script run by its SHA (EVALSHA), falling back to EVAL once when the server does
 * not know it yet (first use, or after a restart flushed the script cache).
 */
export interface Script {
  (redis: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown>;
  readonly lua: string;
  readonly sha: string;
}

export function defineScript(lua: string): Script {
  const sha = createHash('sha1').update(lua).digest('hex');
  const run = async (redis: RedisClient, keys: string[], args: (string | number)[]) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
  return Object.assign(run, { lua, sha });
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** How many replicas must hold a write before it counts as done, and how long to wait for them. */
export interface ReplicaDurability {
  replicas: number;
  timeoutMs: number;
}

/**
 * Runs a script, then WAIT for `replicas` replicas to acknowledge it, in one pipeline: on
 * the same connection, so WAIT covers this write (it waits for the connection's last
 * write), and in a Cluster on the node that owns the script's keys (a pipeline goes to
 * the node of its keys' slot; WAIT has no key of its own). Fewer acknowledgements than
 * asked for within the timeout fails closed with StoreUnavailableError: the write may be
 * on the primary alone, and a failover would lose it.
 */
async function runDurably(redis: RedisClient, script: Script, keys: string[], args: (string | number)[], durability: ReplicaDurability): Promise<unknown> {
  const attempt = async (byHash: boolean) => {
    const pipeline = byHash ? redis.pipeline().evalsha(script.sha, keys.length, ...keys, ...args) : redis.pipeline().eval(script.lua, keys.length, ...keys, ...args);
    const [result, acknowledged] = await execChecked(pipeline.wait(durability.replicas, durability.timeoutMs));
    if (Number(acknowledged) < durability.replicas) {
      throw new StoreUnavailableError(`write acknowledged by ${Number(acknowledged)} of the ${durability.replicas} replicas required within ${durability.timeoutMs} ms`);
    }
    return result;
  };
  try {
    return await attempt(true);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return attempt(false);
  }
}

/** Runs a script whose write must outlive a failover once it has resolved: an audit append, a revocation. */
export type DurableWrite = (script: Script, keys: string[], args: (string | number)[]) => Promise<unknown>;

/** With `durability`, each such write waits for the replicas (runDurably); without, it is a plain script. */
export function durableWrites(redis: RedisClient, durability: ReplicaDurability | undefined): DurableWrite {
  if (!durability) return (script, keys, args) => script(redis, keys, args);
  return (script, keys, args) => runDurably(redis, script, keys, args, durability);
}

/** GETDEL and exclusive XRANGE need 6.2, PEXPIRE NX/GT 7.0: older servers are refused up front. */
export const MIN_REDIS_VERSION = [7, 0] as const;

export async function requireRedisVersion(redis: RedisClient): Promise<void> {
  const info = await guarded('version check', () => redis.info('server'));
  const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  if (major < MIN_REDIS_VERSION[0] || (major === MIN_REDIS_VERSION[0] && minor < MIN_REDIS_VERSION[1])) {
    throw new PortcullisError('STORE_UNSUPPORTED', `Redis ${MIN_REDIS_VERSION.join('.')} or newer is required (found ${version ? `${major}.${minor}` : 'an unknown version'})`);
  }
}

/** A warning process.emitWarning prints (the store has no logger): INFO did not say how Redis evicts. */
export const EVICTION_POLICY_UNKNOWN = 'PORTCULLIS_REDIS_EVICTION_POLICY_UNKNOWN';

/**
 * Refuses a Redis that evicts (any maxmemory-policy but noeviction: volatile-* and
 * allkeys-* are common managed defaults). Out of memory, it would drop keys, TTL'd ones
 * first, and the stores read a dropped key as absent: a revoked OAuth family's mark (the
 * family can be written again), a consumed SAML assertion (a replay passes), a lease, a
 * grant. noeviction refuses the write instead, which fails closed. Every primary of a
 * Cluster is asked: each has its own policy. INFO rather than CONFIG GET, which managed
 * services often block; a server that refuses INFO, or does not say, is let through with
 * a warning: the check guards against a common mistake, it cannot prove the setting.
 */
export async function requireNoEviction(redis: RedisClient): Promise<void> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const policies = await Promise.all(servers.map(evictionPolicy));
  const evicting = policies.find((policy) => policy !== null && policy !== 'noeviction');
  if (evicting) {
    throw new PortcullisError('STORE_UNSUPPORTED', `Redis may evict the broker's keys (maxmemory-policy ${evicting}), and an evicted revocation or replay mark reads as never written: set maxmemory-policy noeviction (infra/redis.conf, or the managed service's parameter group)`);
  }
  if (policies.includes(null)) {
    process.emitWarning('Redis did not say its maxmemory-policy (INFO memory refused, or without it): make sure it is noeviction, or evicted keys read as never written', { code: EVICTION_POLICY_UNKNOWN });
  }
}

/** The server's maxmemory-policy, or null when it will not say. */
async function evictionPolicy(server: Redis): Promise<string | null> {
  const info = await guarded('eviction policy check', () => server.info('memory')).catch((error: unknown) => {
    if (error instanceof StoreUnavailableError) throw error;
    return '';
  });
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null;
}
