import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { systemClock } from '../../server/clock.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { createApiToken, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

/**
 * Security review, class 6: one user with one grant opened 40 sessions (40 upstream
 * processes); 300 subscriptions on one socket starved an auditor's feed. Caps per user
 * (across instances), per instance and per connection, refused with a reason naming them.
 */

const roles = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 3600, autoApprove: true }] },
  { name: 'auditor', members: { groups: ['engineering'] }, audit: true },
];

/** Opens an MCP WebSocket; resolves with 101 and the socket, or the refusal's status and text. */
function openSession(server: TestServer, token: string): Promise<{ status: number; text: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.wsUrl}/mcp/ws/everything`, 'mcp', { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => resolve({ status: 101, text: '', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    ws.once('error', () => {});
  });
}

async function person(server: TestServer, idp: TestIdp, name: string): Promise<string> {
  const email = `${name}@example.com`;
  const cookie = await signIn(server.url, idp, { nameId: email, attributes: { email, groups: ['engineering'] } });
  await postGraphQL(server.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "t", durationSeconds: 600 }) { id } }' }, { cookie });
  return createApiToken(server.url, cookie, ['mcp', 'audit:read']);
}

/** An audited action to repeat, so that a live audit subscription proves itself by delivering it. */
async function auditedAction(server: TestServer, idp: TestIdp): Promise<() => void> {
  const cookie = await signIn(server.url, idp, { nameId: 'dave@example.com', attributes: { email: 'dave@example.com', groups: ['engineering'] } });
  return () => void createApiToken(server.url, cookie, ['api']);
}

type SubscriptionState = { state: 'live'; stop: () => void } | { state: 'refused'; errors: unknown };

/** Subscribes to the audit feed: 'live' once an event arrives (poking until one does), or the refusal. */
function subscription(client: Client, poke: () => void): Promise<SubscriptionState> {
  return new Promise((resolve) => {
    const timer = setInterval(poke, 200);
    const done = (result: SubscriptionState) => {
      clearInterval(timer);
      resolve(result);
    };
    const stop = client.subscribe({ query: 'subscription { auditEvents { type } }' }, { next: () => done({ state: 'live', stop }), error: (errors) => done({ state: 'refused', errors }), complete: () => {} });
  });
}

describe('caps on MCP sessions', () => {
  const servers: TestServer[] = [];
  const sockets: WebSocket[] = [];
  const start = async (broker: Record<string, unknown>) => {
    const idp = await createTestIdp('corp');
    const server = await startTestServer({ config: brokerConfig(idp, { roles, broker }), clock: systemClock });
    servers.push(server);
    return { idp, server };
  };
  const opened = <T extends { ws?: WebSocket }>(result: T): T => {
    if (result.ws) sockets.push(result.ws);
    return result;
  };
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('refuses a user past broker.maxSessionsPerUser with 429 naming the cap, and frees the place when a session ends', async () => {
    const { idp, server } = await start({ maxSessionsPerUser: 2 });
    const token = await person(server, idp, 'alice');
    const first = opened(await openSession(server, token));
    opened(await openSession(server, token));
    const third = await openSession(server, token);
    expect(third).toMatchObject({ status: 429, text: expect.stringMatching(/too many live MCP sessions .*broker\.maxSessionsPerUser: 2/) });
    // Another person is not affected by Alice's cap.
    expect(opened(await openSession(server, await person(server, idp, 'bob'))).status).toBe(101);
    first.ws!.close();
    await expect.poll(async () => opened(await openSession(server, token)).status).toBe(101);
  });

  it('refuses past broker.maxSessionsPerInstance with 503', async () => {
    const { idp, server } = await start({ maxSessionsPerInstance: 1 });
    opened(await openSession(server, await person(server, idp, 'alice')));
    expect(await openSession(server, await person(server, idp, 'bob'))).toMatchObject({ status: 503, text: expect.stringMatching(/broker\.maxSessionsPerInstance: 1/) });
  });

  it('refuses past broker.maxUpstreamProcesses with 503', async () => {
    const { idp, server } = await start({ maxUpstreamProcesses: 1 });
    const token = await person(server, idp, 'alice');
    opened(await openSession(server, token));
    expect(await openSession(server, token)).toMatchObject({ status: 503, text: expect.stringMatching(/broker\.maxUpstreamProcesses: 1/) });
  });
});

describeWithRedis('the per-user session cap across instances', () => {
  it('counts a user\'s sessions on every instance sharing the store', async () => {
    const idp = await createTestIdp('corp');
    const prefix = uniquePrefix();
    const [a, b] = (await Promise.all(
      [0, 1].map(async () => startTestServer({ config: brokerConfig(idp, { roles, broker: { maxSessionsPerUser: 2 } }), clock: systemClock, stores: await redisStoresForTest({ prefix, clock: systemClock }) })),
    )) as [TestServer, TestServer];
    try {
      const token = await person(a, idp, 'alice');
      const onA = await openSession(a, token);
      const onB = await openSession(b, token);
      expect([onA.status, onB.status]).toEqual([101, 101]);
      expect((await openSession(a, token)).status).toBe(429);
      expect((await openSession(b, token)).status).toBe(429);
      onA.ws!.close();
      onB.ws!.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describeWithRedis('the per-user subscription cap across instances', () => {
  it('counts a user\'s subscriptions on every instance sharing the store', async () => {
    const idp = await createTestIdp('corp');
    const prefix = uniquePrefix();
    const config = brokerConfig(idp, { roles, graphql: { maxSubscriptionsPerUser: 1 } });
    const [a, b] = (await Promise.all([0, 1].map(async () => startTestServer({ config, clock: systemClock, stores: await redisStoresForTest({ prefix, clock: systemClock }) })))) as [TestServer, TestServer];
    const clients: Client[] = [];
    try {
      const token = await person(a, idp, 'carol');
      const poke = await auditedAction(a, idp);
      const on = (server: TestServer) => {
        const client = createClient({ url: `${server.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: { authorization: `Bearer ${token}` } });
        clients.push(client);
        return subscription(client, poke);
      };
      expect((await on(a)).state).toBe('live');
      expect(await on(b)).toMatchObject({ state: 'refused', errors: [{ extensions: { code: 'LIMIT_EXCEEDED' } }] });
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('caps on GraphQL subscriptions', () => {
  const servers: TestServer[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const setup = async (graphql: Record<string, unknown>) => {
    const idp = await createTestIdp('corp');
    const server = await startTestServer({ config: brokerConfig(idp, { roles, graphql }), clock: systemClock });
    servers.push(server);
    const token = await person(server, idp, 'carol');
    const poke = await auditedAction(server, idp);
    const subscribe = (client: Client) => subscription(client, poke);
    const connection = () => {
      const client = createClient({ url: `${server.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: { authorization: `Bearer ${token}` } });
      clients.push(client);
      return client;
    };
    return { connection, subscribe };
  };

  it('refuses a subscription past graphql.maxSubscriptionsPerConnection', async () => {
    const { connection, subscribe } = await setup({ maxSubscriptionsPerConnection: 2 });
    const client = connection();
    expect((await subscribe(client)).state).toBe('live');
    expect((await subscribe(client)).state).toBe('live');
    expect(await subscribe(client)).toMatchObject({ state: 'refused', errors: [{ message: expect.stringMatching(/graphql\.maxSubscriptionsPerConnection: 2/), extensions: { code: 'LIMIT_EXCEEDED' } }] });
  });

  it('holds the per-connection cap against a burst of subscriptions sent at once', async () => {
    const { connection, subscribe } = await setup({ maxSubscriptionsPerConnection: 3 });
    const client = connection();
    const states = await Promise.all(Array.from({ length: 10 }, () => subscribe(client)));
    expect(states.filter((s) => s.state === 'live')).toHaveLength(3);
  });

  it('refuses a user\'s subscriptions past graphql.maxSubscriptionsPerUser over all their connections, and frees a place on completion', async () => {
    const { connection, subscribe } = await setup({ maxSubscriptionsPerUser: 2 });
    const first = await subscribe(connection());
    expect(first.state).toBe('live');
    expect((await subscribe(connection())).state).toBe('live');
    expect(await subscribe(connection())).toMatchObject({ state: 'refused', errors: [{ extensions: { code: 'LIMIT_EXCEEDED' } }] });
    if (first.state === 'live') first.stop();
    await expect.poll(async () => (await subscribe(connection())).state).toBe('live');
  });
});
