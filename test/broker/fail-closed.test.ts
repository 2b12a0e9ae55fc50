import { afterAll, beforeAll, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { brokerConfig, upgradeStatus } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';

describeWithRedis('broker with its store down', () => {
  let redis: RedisServerHandle;
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    redis = await startRedisServer();
    const idp = await createTestIdp('corp');
    const stores = await redisStoresForTest({ url: redis.url, fast: true, clock: systemClock });
    server = await startTestServer({ stores, config: brokerConfig(idp), clock: systemClock });
    const cookie = await signIn(server.url, idp, { attributes: { email: 'alice@example.com', groups: ['engineering'] } });
    const gql = (query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie });
    await gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id } }', { input: { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 600 } });
    token = ((await gql('mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token } }')).body.data as { createApiToken: { token: string } }).createApiToken.token;
  });
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
});
