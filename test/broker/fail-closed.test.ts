import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { parseCredential } from '../../server/identity/credentials.js';
import { auditKeys } from '../../server/stores/redis/stream-audit-log.js';
import type { Stores } from '../../server/stores/types.js';
import { admissionStep, brokerConfig, startBroker, upgradeStatus } from '../support/broker-fixture.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';
import { describeWithRedis, redisStoresForTest, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';

describeWithRedis('broker with its store down', () => {
  let redis: RedisServerHandle;
  let server: TestServer;
  let stores: Stores;
  let token: string;
  let newToken: () => Promise<string>;
  beforeAll(async () => {
    redis = await startRedisServer();
    const idp = await createTestIdp('corp');
    stores = await redisStoresForTest({ url: redis.url, fast: true, clock: systemClock });
    // Sessions re-read their grants every 2 s here: long enough to call in between.
    server = await startTestServer({ stores, config: brokerConfig(idp, { broker: { revalidateIntervalSeconds: 2 } }), clock: systemClock });
    const cookie = await signIn(server.url, idp, { attributes: { email: 'alice@example.com', groups: ['engineering'] } });
    const gql = (query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie });
    await gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id } }', { input: { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 600 } });
    newToken = async () => ((await gql('mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token } }')).body.data as { createApiToken: { token: string } }).createApiToken.token;
    token = await newToken();
  });

  /** A session with `bearer` that found the store away at a revalidation (it refuses for its grants), with the store back. */
  async function sessionBackFromOutage(bearer: string) {
    const transport = new BrokerWebSocketTransport(`${server.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${bearer}` });
    const client = new Client({ name: 't', version: '1' });
    await client.connect(transport);
    const refusal = () => client.callTool({ name: 'echo', arguments: { message: 'down' } }).then(() => 'answered', (error: Error) => error.message);
    await redis.pause();
    try {
      // Refused for the audit log at first; once a revalidation found the store away, for the grants.
      await expect.poll(refusal, { timeout: 15_000, interval: 0 }).toContain('cannot confirm your grants');
    } finally {
      await redis.resume();
    }
    return { client, transport };
  }
  afterAll(async () => {
    await redis.resume();
    await server.close();
    await redis.stop();
  });

  it('denies requests with broker_unavailable (never forwards unaudited) and refuses new connections with 503', async () => {
    const transport = new BrokerWebSocketTransport(`${server.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${token}` });
    const client = new Client({ name: 't', version: '1' });
    await client.connect(transport);
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'up' } })).content)).toContain('up');
    await redis.pause();
    await expect(client.callTool({ name: 'echo', arguments: { message: 'down' } })).rejects.toMatchObject({ code: -32001, data: { reason: 'broker_unavailable' } });
    expect(await upgradeStatus(`${server.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${token}` })).toBe(503);
    await redis.resume();
    await client.close();
  });

  it('takes calls again as soon as the store is back, without waiting for the next revalidation', async () => {
    const { client } = await sessionBackFromOutage(token);
    // The next revalidation is up to 2 s away: this call confirms the grants itself.
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'back' } })).content)).toContain('back');
    await client.close();
  });

  it('closes instead with 4401 when the token was revoked while the instance could not hear of it', async () => {
    const revoked = await newToken();
    const { client, transport } = await sessionBackFromOutage(revoked);
    // Removed from the store with no event on the bus: as a revocation announced while this instance was cut off.
    await stores.tokens.delete(parseCredential('pcl', revoked)!.id);
    // Answered only when a revalidation begun in the outage finished after it, with the token still there:
    // confirmed live then. Refused otherwise, the credential asked about first. Closed with 4401 either way.
    await client.callTool({ name: 'echo', arguments: { message: 'after' } }).catch(() => {});
    await expect.poll(() => transport.closeInfo?.code, { timeout: 5_000 }).toBe(4401);
    expect(transport.closeInfo?.reason).toBe('API token revoked');
  });
});

describeWithRedis('a session whose start cannot be audited', () => {
  /** A broker on its own keys, whose next session finds the audit log unwritable as it starts (its head deleted: appends are refused). */
  async function brokerWithBrokenLogAtStart() {
    const prefix = uniquePrefix();
    const stores = await redisStoresForTest({ prefix, fast: true, clock: systemClock });
    const step = admissionStep(stores);
    const fx = await startBroker({ stores });
    await fx.grant(['echo']);
    const token = await fx.token();
    const admin = new Redis(sharedRedisUrl!);
    step.meanwhile(() => admin.del(auditKeys(prefix)('head')));
    return { fx, token, step, close: async () => (admin.disconnect(), await fx.close()) };
  }

  it('closes a WebSocket session with 1011 and says the audit log is why, not the upstream', async () => {
    const { fx, token, step, close } = await brokerWithBrokenLogAtStart();
    try {
      const ws = new WebSocket(fx.wsUrl(), 'mcp', { headers: { authorization: `Bearer ${token}` } });
      const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
      expect(step.pending()).toBe(false);
      expect({ code, reason: reason.toString() }).toEqual({ code: 1011, reason: 'the audit log cannot be written, so the session cannot start' });
    } finally {
      await close();
    }
  });

  it('answers a Streamable HTTP initialize with -32001 broker_unavailable', async () => {
    const { fx, token, step, close } = await brokerWithBrokenLogAtStart();
    try {
      const res = await mcpFetch(fx.httpUrl(), INITIALIZE, { token, accept: 'application/json' });
      expect(step.pending()).toBe(false);
      expect(await res.json()).toMatchObject({ id: 0, error: { code: -32001, data: { reason: 'broker_unavailable' } } });
    } finally {
      await close();
    }
  });
});
