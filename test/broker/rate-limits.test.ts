import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { connectClient, fixtureServer, startBroker } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import type { TestServer } from '../support/test-server.js';
import { callTool as call } from '../support/tool-call-outcome.js';
import type { ToolCallOutcome as Outcome } from '../support/tool-call-outcome.js';

/**
 * Issue 14, item 4: tool calls limited per user, per server and per tool (calls per window,
 * calls in flight), counted in Redis across instances, refused with -32001 `rate_limited`,
 * the clause that refused and a retry-after, and audited as such.
 */

const TOOLS = ['say', 'hold', 'holds-cancelled', 'subscriptions', 'notifications-received'];
const LIMITS = {
  calls: 5,
  windowSeconds: 60,
  concurrent: 2,
  tools: {
    say: { calls: 1, windowSeconds: 60 },
    hold: { concurrent: 1 },
    subscriptions: { calls: 1, windowSeconds: 1 },
  },
};
const OVERRIDES = {
  roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: TOOLS, maxDurationSeconds: 3600, autoApprove: true }] }],
  servers: [{ ...fixtureServer('everything', 'edge-upstream'), rateLimits: LIMITS }],
};

const CLAUSE = {
  serverCalls: 'servers.everything.rateLimits.calls: 5 per 60 s',
  sayCalls: 'servers.everything.rateLimits.tools.say.calls: 1 per 60 s',
  holdConcurrent: 'servers.everything.rateLimits.tools.hold.concurrent: 1',
  subscriptionsCalls: 'servers.everything.rateLimits.tools.subscriptions.calls: 1 per 1 s',
};


const refusedBy = (clause: string) => ({ ok: false, code: -32001, data: { reason: 'rate_limited', clause } });

/** `hold` never answers: a call in flight until it is cancelled or its session ends. */
function holdInFlight(client: Client): { abort: () => void; settled: () => boolean } {
  const controller = new AbortController();
  let settled = false;
  void call(client, 'hold', controller.signal).then(() => (settled = true));
  return { abort: () => controller.abort('done'), settled: () => settled };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventsOf(server: TestServer, email: string, type: string): Promise<AuditEvent[]> {
  return (await server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === type && e.actor === email);
}

const auditOf = async (server: TestServer, email: string, tool: string) => (await eventsOf(server, email, 'mcp.request')).filter((e) => e.tool === tool);

/** Calls of `tool` by `email` the broker admitted (audited as forwarded, which happens only after admission). */
const admitted = async (server: TestServer, email: string, tool: string) => (await auditOf(server, email, tool)).filter((e) => e.outcome === 'SUCCESS').length;

describeWithRedis('tool-call rate limits, one instance on Redis', () => {
  let fx: BrokerFixture;
  /** A person of their own per test: limits are per user. */
  const engineer = async (name: string) => {
    const email = `${name}@example.com`;
    const person = await fx.signInAs(email);
    await person.grant(TOOLS);
    const token = await person.token();
    return { email, token, connect: async () => (await fx.connect(token)).client };
  };

  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES, stores: await redisStoresForTest({ clock: systemClock }) });
  });
  afterAll(() => fx.close());

  it("refuses a user's calls past the server's window with -32001 rate_limited, the clause and a retry-after, audited; other users are unaffected", async () => {
    const wendy = await engineer('wendy');
    const client = await wendy.connect();
    // Sequential calls beyond `concurrent: 2`: each answered call gave its place back.
    for (let i = 0; i < 5; i++) expect(await call(client, 'holds-cancelled')).toEqual({ ok: true });
    const refused = await call(client, 'holds-cancelled');
    expect(refused).toMatchObject(refusedBy(CLAUSE.serverCalls));
    const { retryAfterMs, clause } = (refused as Extract<Outcome, { ok: false }>).data!;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect((refused as { message: string }).message).toBe(`MCP error -32001: Access denied: rate limit reached (${clause}); retry in ${Math.ceil(retryAfterMs! / 1000)} s`);
    // The window is the server's: every tool on it, and every session of the person.
    expect(await call(client, 'notifications-received')).toMatchObject(refusedBy(CLAUSE.serverCalls));
    expect(await call(await wendy.connect(), 'holds-cancelled')).toMatchObject(refusedBy(CLAUSE.serverCalls));
    // Only tools/call counts.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);

    const denied = (await auditOf(fx.server, wendy.email, 'holds-cancelled')).filter((e) => e.outcome === 'DENIED');
    expect(denied).toHaveLength(2);
    expect(denied[0]!.data).toMatchObject({ method: 'tools/call', reason: 'rate_limited', clause: CLAUSE.serverCalls, retryAfterMs: expect.any(Number) });
    expect(denied[0]!.server).toBe('everything');

    const other = await engineer('oscar');
    expect(await call(await other.connect(), 'holds-cancelled')).toEqual({ ok: true });
  });

  it("refuses by a tool's own window, stricter than the server's, and leaves the person's other tools alone", async () => {
    const tess = await engineer('tess');
    const client = await tess.connect();
    expect(await call(client, 'say')).toEqual({ ok: true });
    expect(await call(client, 'say')).toMatchObject(refusedBy(CLAUSE.sayCalls));
    expect(await call(client, 'holds-cancelled')).toEqual({ ok: true });
  });

  it('serves again once the window has passed', async () => {
    const rita = await engineer('rita');
    const client = await rita.connect();
    let refused: Outcome = { ok: true };
    // A one-second window: a slow machine may see a call or two land in a fresh one first.
    for (let i = 0; i < 4 && refused.ok; i++) refused = await call(client, 'subscriptions');
    expect(refused).toMatchObject(refusedBy(CLAUSE.subscriptionsCalls));
    const { retryAfterMs } = (refused as Extract<Outcome, { ok: false }>).data!;
    expect(retryAfterMs).toBeLessThanOrEqual(1000);
    await sleep(retryAfterMs! + 50);
    expect(await call(client, 'subscriptions')).toEqual({ ok: true });
  });

  it('refuses a call past the concurrent limit (across sessions) with a fixed 1 s hint, and frees the place when the call is cancelled', async () => {
    const carl = await engineer('carl');
    const [first, second] = [await carl.connect(), await carl.connect()];
    const held = holdInFlight(first);
    await expect.poll(() => admitted(fx.server, carl.email, 'hold')).toBe(1);
    expect(await call(second, 'hold')).toMatchObject({ ...refusedBy(CLAUSE.holdConcurrent), data: { retryAfterMs: 1000 } });
    held.abort();
    // The broker frees the place once it has recorded the cancellation (audit before it acts).
    await expect.poll(async () => (await eventsOf(fx.server, carl.email, 'mcp.notification')).filter((e) => e.data.method === 'notifications/cancelled').length).toBe(1);
    const again = holdInFlight(second);
    await expect.poll(() => admitted(fx.server, carl.email, 'hold')).toBe(2);
    expect(again.settled()).toBe(false);
    again.abort();
  });

  it('frees the place of a call in flight when its session ends', async () => {
    const sam = await engineer('sam');
    const ending = await sam.connect();
    holdInFlight(ending);
    await expect.poll(() => admitted(fx.server, sam.email, 'hold')).toBe(1);
    await ending.close();
    await expect.poll(async () => (await eventsOf(fx.server, sam.email, 'mcp.session.end')).length).toBe(1);
    const next = await sam.connect();
    const held = holdInFlight(next);
    await expect.poll(() => admitted(fx.server, sam.email, 'hold')).toBe(2);
    expect(held.settled()).toBe(false);
    held.abort();
  });
});

describeWithRedis('tool-call rate limits, counted across two instances sharing Redis', () => {
  let a: BrokerFixture;
  let b: TestServer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await startBrokerPair(OVERRIDES));
  });
  afterAll(() => close());

  it("counts one person's window and calls in flight on both instances together", async () => {
    await a.grant(TOOLS);
    const token = await a.token();
    const onA = (await a.connect(token)).client;
    const onB = (await connectClient(`${b.wsUrl}/mcp/ws/everything`, token)).client;

    expect(await call(onA, 'say')).toEqual({ ok: true });
    expect(await call(onB, 'say')).toMatchObject(refusedBy(CLAUSE.sayCalls));

    const held = holdInFlight(onA);
    await expect.poll(() => admitted(a.server, 'alice@example.com', 'hold')).toBe(1);
    expect(await call(onB, 'hold')).toMatchObject(refusedBy(CLAUSE.holdConcurrent));
    held.abort();
  });
});

describeWithRedis('tool-call rate limits with the store down', () => {
  let redis: RedisServerHandle;
  let fx: BrokerFixture;
  beforeAll(async () => {
    redis = await startRedisServer();
    fx = await startBroker({ overrides: OVERRIDES, stores: await redisStoresForTest({ url: redis.url, fast: true, clock: systemClock }) });
  });
  afterAll(async () => {
    await redis.resume();
    await fx.close();
    await redis.stop();
  });

  it('refuses a call it cannot count (rate_limited, the clause saying why), never forwards it uncounted, and counts again once the store is back', async () => {
    await fx.grant(TOOLS);
    const { client } = await fx.connect(await fx.token());
    expect(await call(client, 'holds-cancelled')).toEqual({ ok: true });
    await redis.pause();
    expect(await call(client, 'holds-cancelled')).toMatchObject({
      ...refusedBy('servers.everything.rateLimits: cannot be counted right now (store unreachable)'),
      data: { retryAfterMs: 1000 },
    });
    await redis.resume();
    expect(await call(client, 'holds-cancelled')).toEqual({ ok: true });
    expect(fx.server.logs.some((line) => line.includes('rate limits cannot be counted: tool call refused'))).toBe(true);
  });
});
