import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { hashEvent } from '../../server/audit/chain.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { auditKeys } from '../../server/stores/redis/stream-audit-log.js';

/**
 * What someone who can write the audit store, but holds no key, can do to it: read the
 * events, write back any sequence of them, and plant a chain-start anchor. The embedded
 * file wants cursors numbered one after another, so events written back are renumbered.
 */
export interface AuditStoreAccess {
  events(): Promise<AuditEvent[]>;
  write(events: AuditEvent[]): Promise<void>;
  plantAnchor(anchor: Record<string, unknown>): Promise<void>;
}

/** Every event from `from` on, re-hashed onto its predecessor: an edit nobody can see in the chain alone. */
export function rechain(events: AuditEvent[], from: number): AuditEvent[] {
  const out = events.slice(0, from);
  for (const event of events.slice(from)) {
    const prevHash = out.at(-1)?.hash ?? event.prevHash;
    const content = { ...event, prevHash };
    out.push({ ...content, hash: hashEvent(content) });
  }
  return out;
}

export function auditFileAccess(path: string): AuditStoreAccess {
  const lines = () => readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const anchorLines = () => lines().filter((line) => line.startsWith('{"anchor"'));
  return {
    events: async () => lines().filter((line) => !line.startsWith('{"anchor"')).map((line) => JSON.parse(line) as AuditEvent),
    write: async (events) => {
      const anchor = anchorLines();
      const first = anchor.length > 0 ? (JSON.parse(anchor[0]!) as { anchor: { lastTrimmedId: number } }).anchor.lastTrimmedId + 1 : 1;
      writeFileSync(path, [...anchor, ...events.map((e, i) => JSON.stringify({ ...e, id: String(first + i) }))].join('\n') + '\n');
    },
    plantAnchor: async (anchor) => {
      writeFileSync(path, [JSON.stringify({ anchor }), ...lines().filter((line) => !line.startsWith('{"anchor"'))].join('\n') + '\n');
    },
  };
}

/** A plain client of its own for the work, as someone outside the broker would connect. */
export async function withRedisClient<T>(url: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url);
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

export function auditStreamAccess(url: string, prefix: string): AuditStoreAccess {
  const withRedis = <T>(work: (redis: Redis) => Promise<T>) => withRedisClient(url, work);
  return {
    events: () =>
      withRedis(async (redis) => {
        const entries = (await redis.xrange(auditKeys(prefix)('stream'), '-', '+')) as [string, string[]][];
        return entries.map(([id, fields]) => ({ id, ...(JSON.parse(fields[fields.indexOf('e') + 1]!) as Omit<AuditEvent, 'id'>) }));
      }),
    write: (events) =>
      withRedis(async (redis) => {
        await redis.del(auditKeys(prefix)('stream'));
        for (const { id, ...event } of events) await redis.xadd(auditKeys(prefix)('stream'), id, 'h', event.hash, 'e', JSON.stringify(event));
        await redis.set(auditKeys(prefix)('head'), events.at(-1)!.hash);
      }),
    plantAnchor: (anchor) =>
      withRedis(async (redis) => {
        await redis.set(auditKeys(prefix)('anchor'), JSON.stringify(anchor));
      }),
  };
}
