import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pagesOf, verifyChain, verifyLog } from '../../server/audit/verify.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import { StoreUnavailableError } from '../../server/errors.js';
import type { ReplicaDurability } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import { startUpstream } from '../support/http-upstream.js';
import { McpCallBurst, SESSION_GONE } from '../support/mcp-call-burst.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { SENTINEL_MASTER_NAME, startSentinelSet } from '../support/redis-sentinel.js';
import type { SentinelSetHandle } from '../support/redis-sentinel.js';

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "incident") { status } }';
const WRITERS = 4;
const BEFORE_KILL = 60;
const AFTER_RECOVERY = 60;
/** Engineers may have `say` on `everything` (the recording upstream) at once. */
const SAY_ROLES = [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['say'], maxDurationSeconds: 3600, autoApprove: true }] }];
/** Calls each MCP session has answered before the replica freezes. */
const ANSWERED_BEFORE = 5;
/** A call not settled within this counts as hung (the store's timeouts settle every call within about a second). */
const CALL_DEADLINE_MS = 15_000;
/**
 * A call refused while the store cannot confirm: the audit log cannot be written (or the
 * grants cannot be re-read); or, for a Streamable HTTP request whose token is due to be
 * checked again (once a minute), the token cannot be: 503.
 */
const UNCONFIRMED = /^(JSON-RPC -32001 broker_unavailable|HTTP 503)$/;
/** A session ended the way its client can tell (and its call refused so): a WebSocket closed with a code and a reason, a Streamable HTTP session id answered with 404. */
const ENDED_CLEANLY = /^(closed \d{4} \(.+\)|HTTP 404)$/;
/**
 * A call refused once its grant was revoked: answered so in flight, the WebSocket closed
 * (or closing: the client then refuses to send), the Streamable HTTP session gone.
 */
const CUT = /^(JSON-RPC -32001 grant_revoked|closed 4403 \(grant revoked\)|not connected|HTTP 404)$/;

/** How long one step of a test may wait for what it needs: a step that never comes fails naming it, instead of the whole test timing out. */
const STEP_MS = 45_000;

/** Resolves once `condition` holds, checking each time the event loop comes round; throws naming `what` after STEP_MS. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STEP_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${STEP_MS} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** REVOKED, or why it was refused: the 503 page of a broker whose store is away, or the GraphQL error's code. */
async function revokeGrant(fx: BrokerFixture, grantId: string): Promise<string> {
  try {
    const { body } = await fx.gql(REVOKE, { id: grantId });
    return (body.data as { revokeGrant?: { status: string } } | null | undefined)?.revokeGrant?.status ?? String(body.errors?.[0]?.extensions?.code);
  } catch (error) {
    if (error instanceof SyntaxError) return 'SERVICE_UNAVAILABLE';
    throw error;
  }
}

/** The whole log, page by page: writers without pause on a slow machine can append more than one read returns. */
async function wholeLog(stores: Stores): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for await (const page of pagesOf((after) => stores.audit.read({ after, limit: 10_000 }))) events.push(...page);
  return events;
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
    await until('an append the thawed replica acknowledges', () => stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null }).then(() => true, () => false));
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

    await until('the appends before the kill', () => acknowledged.length >= BEFORE_KILL);
    const [first, replica] = set.dataNodes;
    // The replica falls behind (frozen): the primary still takes writes (its lag is under
    // min-replicas-max-lag), so only the append's WAIT can tell they are not yet safe.
    await replica!.pause();
    const atPause = next;
    await until('appends tried while the replica is frozen', () => next >= atPause + 2 * WRITERS);
    await first!.kill();
    await replica!.resume();
    const atKill = acknowledged.length;

    // Nothing can be confirmed until a replica holds the writes again: appends are refused.
    await until('appends refused', () => refusals.length >= WRITERS);
    await until('the failover', async () => (await set.primaryPort()) !== first!.port);
    // The client reaches the promoted replica, which has no replica of its own: min-replicas-to-write (or WAIT) refuses.
    const refusedAfterFailover = refusals.length;
    await until('an append refused by the promoted replica', () => refusals.slice(refusedAfterFailover).some((error) => /NOREPLICAS|replicas required/.test(causes(error))));
    expect(acknowledged.length - atKill).toBeLessThanOrEqual(WRITERS);
    // The old primary comes back; the Sentinels make it the new primary's replica.
    await first!.restart();
    await until('the appends after the recovery', () => acknowledged.length >= atKill + WRITERS + AFTER_RECOVERY);
    stop = true;
    await Promise.all(writers);

    for (const refusal of refusals) expect(refusal).toBeInstanceOf(StoreUnavailableError);
    const log = await wholeLog(stores);
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
      const revoke = () => revokeGrant(fx, grantId);
      // Refused, not queued, while nothing can record it.
      expect(['SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE']).toContain(await revoke());
      await until('the failover', async () => (await set.primaryPort()) !== primaryPort);
      await primary.restart();
      await until('the revocation to go through', async () => (await revoke()) === 'REVOKED');

      await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
      await expect(fx.connect(token)).rejects.toThrow(/HTTP 403/);
    } finally {
      await fx.close();
    }
  }, 120_000);

  it('audited MCP calls through a broker, over WebSocket and Streamable HTTP, lose no acknowledged event and pass nothing unconfirmed when the primary dies mid-burst; sessions resume, and a revocation still cuts them all', async () => {
    const upstream = await startUpstream('json');
    const brokerStores = await open({ replicas: 1, timeoutMs: 500 });
    // Grants re-read every second: sessions also find the store away (and refuse) through their revalidation.
    const fx = await startBroker({ stores: brokerStores, overrides: { roles: SAY_ROLES, servers: [{ name: 'everything', transport: 'streamable-http', url: upstream.url }], broker: { revalidateIntervalSeconds: 1 } } });
    const burst = new McpCallBurst(fx.server.url, CALL_DEADLINE_MS);
    try {
      const grantId = await fx.grant(['say']);
      const token = await fx.token();
      const first = await Promise.all((['websocket', 'websocket', 'streamable-http', 'streamable-http'] as const).map((transport) => burst.open(transport, token)));
      await until('calls answered in every session', () => first.every((session) => session.since(0, 'answered').length >= ANSWERED_BEFORE));

      const primaryPort = await set.primaryPort();
      const old = set.dataNodes.find((node) => node.port === primaryPort)!;
      const replica = set.dataNodes.find((node) => node !== old)!;
      // The replica freezes: an audited call reaches the primary alone, whose WAIT times out,
      // so the call is refused and never forwarded (and the primary dies with its event).
      await replica.pause();
      const frozenAt = performance.now();
      await until('a call settled in every session after the freeze', () => first.every((session) => session.since(frozenAt).length > 0));
      await old.kill();
      await replica.resume();
      // Refused, not queued, while nothing can record it.
      expect(['SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE']).toContain(await revokeGrant(fx, grantId));
      await until('the failover', async () => (await set.primaryPort()) !== primaryPort);
      // The promoted replica has no replica of its own (min-replicas-to-write): still nothing is confirmed.
      const rejoinAt = performance.now();
      await old.restart();
      const backAt = performance.now();

      // Every session carries on, or ended so its client can tell; new ones open, on the same broker.
      await until('every session to carry on or end', () => first.every((session) => session.ended() !== undefined || session.since(backAt, 'answered').length > 0));
      expect(first.map((session) => session.ended() ?? 'resumed').filter((end) => end !== 'resumed' && !ENDED_CLEANLY.test(end))).toEqual([]);
      const later = await Promise.all((['websocket', 'streamable-http'] as const).map((transport) => burst.open(transport, token)));
      await until('calls answered in the new sessions', () => later.every((session) => session.since(backAt, 'answered').length > 0));

      // The revocation goes through now, and cuts every live session whatever its transport
      // (a Streamable HTTP client hears of it at its next call).
      const live = burst.sessions.filter((session) => session.ended() === undefined);
      // Marked before it is asked for: the fan-out can cut a session before the answer reaches us.
      const revokingAt = performance.now();
      await until('the revocation to go through', async () => (await revokeGrant(fx, grantId)) === 'REVOKED');
      const endedByRevocation = async () => (await wholeLog(brokerStores)).filter((event) => event.type === 'mcp.session.end' && event.data.reason === 'grant revoked').length;
      await until('every live session ended by the revocation', async () => (await endedByRevocation()) >= live.length);
      const cutAt = performance.now();
      await until('every client to see its session end', () => live.every((session) => session.ended() !== undefined));
      await burst.stop();
      expect(await endedByRevocation()).toBe(live.length);
      expect(new Set(live.map((session) => `${session.transport}: ${session.ended()}`))).toEqual(new Set(['websocket: closed 4403 (grant revoked)', `streamable-http: ${SESSION_GONE}`]));

      const { calls } = burst;
      expect(calls.filter((call) => call.outcome === 'hung')).toEqual([]);
      // A refusal says why: the store could not confirm (a WAIT can time out under load at any time), the session ended, the grant was revoked.
      const refused = calls.filter((call) => call.outcome === 'refused' && !UNCONFIRMED.test(call.reason));
      expect(refused.filter((call) => (call.settledAt < revokingAt ? !ENDED_CLEANLY.test(call.reason) : !CUT.test(call.reason)))).toEqual([]);
      // Nothing went through from the freeze until a replica could confirm again, nor after the cut.
      expect(calls.filter((call) => call.outcome === 'answered' && call.sentAt > frozenAt && call.settledAt < rejoinAt)).toEqual([]);
      expect(calls.filter((call) => call.outcome === 'answered' && call.sentAt > cutAt)).toEqual([]);

      // Every answered call's event survived the failover; the upstream saw no call without one; the chain verifies.
      const log = await wholeLog(brokerStores);
      const audited = log.filter((event) => event.type === 'mcp.request' && event.outcome === 'SUCCESS' && event.tool === 'say').map((event) => (event.data.params as { arguments: { text: string } }).arguments.text);
      const inLog = new Set(audited);
      // Each once: a call is audited by one append, refused or not, and nothing is appended twice across the failover.
      expect(audited.length).toBe(inLog.size);
      const answered = calls.filter((call) => call.outcome === 'answered').map((call) => call.text);
      expect(answered.filter((text) => !inLog.has(text))).toEqual([]);
      expect(upstream.said.filter((text) => !inLog.has(text))).toEqual([]);
      expect(answered.filter((text) => !upstream.said.includes(text))).toEqual([]);
      expect((await verifyLog(await brokerStores.audit.stored(), {})).broken).toBeNull();
    } finally {
      await burst.stop();
      await fx.close();
      upstream.server.closeAllConnections();
      await new Promise((resolve) => upstream.server.close(resolve));
    }
  }, 120_000);
});
