import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyChain } from '../../server/audit/verify.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import { StoreUnavailableError } from '../../server/errors.js';
import type { ReplicaDurability } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { SENTINEL_MASTER_NAME, startSentinelSet } from '../support/redis-sentinel.js';
import type { SentinelSetHandle } from '../support/redis-sentinel.js';

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "incident") { status } }';
const WRITERS = 4;
const BEFORE_KILL = 60;
const AFTER_RECOVERY = 60;

/** Resolves once `condition` holds, checking each time the event loop comes round. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** An error's message with its causes', where a refusal's reason lies. */
function causes(error: unknown): string {
  return error instanceof Error ? `${error.message} ${causes(error.cause)}` : '';
}

describeWithRedis('audit durability across a Sentinel failover', () => {
  let set: SentinelSetHandle;
  let stores: Stores;
  const open = async (durability?: ReplicaDurability) => {
    const opened = createRedisStores({ sentinels: set.sentinels, name: SENTINEL_MASTER_NAME, keyPrefix: uniquePrefix(), commandTimeoutMs: 1_000, connectTimeoutMs: 2_000, clock: systemClock, durability });
    await opened.waitReady();
    return opened;
  };
  beforeAll(async () => {
    set = await startSentinelSet();
    stores = await open({ replicas: 1, timeoutMs: 500 });
  }, 60_000);
  afterAll(async () => {
    await stores.close();
    await set.stop();
  });

  it('refuses an append no replica acknowledged within the timeout, which the primary alone would have acknowledged', async () => {
    const primaryOnly = await open();
    const [, replica] = set.dataNodes;
    await replica!.pause();
    try {
      // Frozen, the replica still counts for min-replicas-to-write (its lag is under min-replicas-max-lag): only WAIT tells.
      await expect(primaryOnly.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null })).resolves.toMatchObject({ type: 'auth.login' });
      const refused = await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StoreUnavailableError);
      expect(causes(refused)).toMatch(/acknowledged by 0 of the 1 replicas required within 500 ms/);
    } finally {
      await replica!.resume();
      await primaryOnly.close();
    }
    // Thawed, the replica catches up and acknowledges again.
    await until(() => stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null }).then(() => true, () => false));
  });

  it('keeps every acknowledged append when the primary is killed mid-burst, refuses (never hangs) appends it cannot confirm, and recovers through Sentinel without a restart', async () => {
    const acknowledged: AuditEvent[] = [];
    const refusals: unknown[] = [];
    let next = 0;
    let stop = false;
    const writer = async () => {
      while (!stop) {
        const n = next++;
        try {
          acknowledged.push(await stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', server: 'everything', tool: 'echo', data: { n } }));
        } catch (error) {
          refusals.push(error);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, writer);

    await until(() => acknowledged.length >= BEFORE_KILL);
    const [first, replica] = set.dataNodes;
    // The replica falls behind (frozen): the primary still takes writes (its lag is under
    // min-replicas-max-lag), so only the append's WAIT can tell they are not yet safe.
    await replica!.pause();
    const atPause = next;
    await until(() => next >= atPause + 2 * WRITERS);
    await first!.kill();
    await replica!.resume();
    const atKill = acknowledged.length;

    // Nothing can be confirmed until a replica holds the writes again: appends are refused.
    await until(() => refusals.length >= WRITERS);
    await until(async () => (await set.primaryPort()) !== first!.port);
    // The client reaches the promoted replica, which has no replica of its own: min-replicas-to-write (or WAIT) refuses.
    const refusedAfterFailover = refusals.length;
    await until(() => refusals.slice(refusedAfterFailover).some((error) => /NOREPLICAS|replicas required/.test(causes(error))));
    expect(acknowledged.length - atKill).toBeLessThanOrEqual(WRITERS);
    // The old primary comes back; the Sentinels make it the new primary's replica.
    await first!.restart();
    await until(() => acknowledged.length >= atKill + WRITERS + AFTER_RECOVERY);
    stop = true;
    await Promise.all(writers);

    for (const refusal of refusals) expect(refusal).toBeInstanceOf(StoreUnavailableError);
    const log = await stores.audit.read({ limit: 100_000 });
    const logged = new Map(log.map((event) => [event.id, event.hash]));
    const lost = acknowledged.filter((event) => logged.get(event.id) !== event.hash);
    expect(lost).toEqual([]);
    const report = await verifyChain([log]);
    expect(report.broken).toBeNull();
    expect(report.events).toBe(log.length);
  }, 120_000);

  it('a revocation issued while the primary is lost takes effect once the store confirms it, and still cuts the live session', async () => {
    const fx = await startBroker({ stores: await open({ replicas: 1, timeoutMs: 500 }) });
    try {
      const grantId = await fx.grant(['echo']);
      const token = await fx.token();
      const { client, transport } = await fx.connect(token);
      await expect(client.callTool({ name: 'echo', arguments: { message: 'before' } })).resolves.toBeTruthy();

      const primaryPort = await set.primaryPort();
      const primary = set.dataNodes.find((node) => node.port === primaryPort)!;
      await primary.kill();
      /** REVOKED, or why it was refused: the 503 page of a broker whose store is away, or the GraphQL error's code. */
      const revoke = async (): Promise<string> => {
        try {
          const { body } = await fx.gql(REVOKE, { id: grantId });
          return (body.data as { revokeGrant?: { status: string } } | null | undefined)?.revokeGrant?.status ?? String(body.errors?.[0]?.extensions?.code);
        } catch (error) {
          if (error instanceof SyntaxError) return 'SERVICE_UNAVAILABLE';
          throw error;
        }
      };
      // Refused, not queued, while nothing can record it.
      expect(['SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE']).toContain(await revoke());
      await until(async () => (await set.primaryPort()) !== primaryPort);
      await primary.restart();
      await until(async () => (await revoke()) === 'REVOKED');

      await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
      await expect(fx.connect(token)).rejects.toThrow(/HTTP 403/);
    } finally {
      await fx.close();
    }
  }, 120_000);
});
