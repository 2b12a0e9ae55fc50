import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { describe, expect, it } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import type { TestServer } from '../support/test-server.js';
import { brokerConfig, brokersPerTest, startBroker, storesWithAdmissionStep } from '../support/broker-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import { postGraphQL, startInstancesOnRedis } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "incident over") { status } }';
const LONG_CALL = { name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 2 } };

describe('grant ends cut live sessions', () => {
  const broker = brokersPerTest();

  it('revocation closes the socket with 4403 and answers the in-flight call with an error', async () => {
    const fx = await broker();
    const grantId = await fx.grant(['echo', 'trigger-long-running-operation']);
    const { client, transport } = await fx.connect(await fx.token());
    const inFlight = client.callTool(LONG_CALL).then(
      () => 'completed',
      (error: { code?: number; data?: unknown }) => error,
    );
    await new Promise((r) => setTimeout(r, 200));
    expect((await fx.gql(REVOKE, { id: grantId })).body.data).toEqual({ revokeGrant: { status: 'REVOKED' } });
    expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
    // The call cut off is on record as refused, beside its request allowed before.
    const records = async () => (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.request' && e.tool === 'trigger-long-running-operation').map((e) => [e.outcome, e.data.reason, e.data.inFlight]);
    await expect.poll(records).toEqual([
      ['SUCCESS', undefined, undefined],
      ['DENIED', 'grant_revoked', true],
    ]);
  });

  it('a new connection is refused (403) once the grant is revoked', async () => {
    const fx = await broker();
    const grantId = await fx.grant(['echo']);
    const token = await fx.token();
    await fx.gql(REVOKE, { id: grantId });
    await expect(fx.connect(token)).rejects.toThrow(/HTTP 403/);
  });

  it('expiry closes the session with 4403 "grant expired" at the grant\'s expiresAt', async () => {
    const fx = await broker();
    await fx.grant(['echo'], 2);
    const { client, transport } = await fx.connect(await fx.token());
    await expect.poll(() => transport.closeInfo, { timeout: 5000 }).toEqual({ code: 4403, reason: 'grant expired' });
    await expect(client.callTool({ name: 'echo', arguments: { message: 'late' } })).rejects.toBeTruthy();
  });

  it('a session riding on two grants lives on while one of them remains', async () => {
    const fx = await broker();
    const first = await fx.grant(['echo']);
    await fx.grant(['get-sum']);
    const { client, transport } = await fx.connect(await fx.token());
    await fx.gql(REVOKE, { id: first });
    await expect.poll(async () => (await client.listTools()).tools.map((t) => t.name)).toEqual(['get-sum']);
    expect(transport.closeInfo).toBeUndefined();
    await expect(client.callTool({ name: 'echo', arguments: { message: 'x' } })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });
    await client.close();
  });

  it('a grant revoked while a session is being admitted does not ride along into it', async () => {
    // The revocation lands after admission read the grants and before the session is
    // registered (where its fan-out reaches live sessions): in the session-cap lease step.
    const admission = await storesWithAdmissionStep();
    const fx = await startBroker({ stores: admission.stores });
    try {
      const grantId = await fx.grant(['echo']);
      admission.meanwhile(() => fx.gql(REVOKE, { id: grantId }));
      const transport = new BrokerWebSocketTransport(fx.wsUrl(), { authorization: `Bearer ${await fx.token()}` });
      const client = new Client({ name: 't', version: '1' });
      const outcome = await client.connect(transport).then(
        () => client.callTool({ name: 'echo', arguments: { message: 'after revocation' } }).then(() => 'answered', (error: unknown) => error),
        (error: unknown) => error,
      );
      expect(admission.pending()).toBe(false);
      expect(outcome).not.toBe('answered');
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
    } finally {
      await fx.close();
    }
  });

  it('broker shutdown closes sessions with 1001, answers in-flight calls and reaps the upstream', async () => {
    const fx = await startBroker();
    await fx.grant(['trigger-long-running-operation']);
    const { client, transport } = await fx.connect(await fx.token());
    const inFlight = client.callTool(LONG_CALL).then(
      () => 'completed',
      (error: { code?: number; data?: unknown }) => error,
    );
    await new Promise((r) => setTimeout(r, 200));
    const start = (await fx.server.stores.audit.read({ limit: 1000 })).find((e) => e.type === 'mcp.session.start');
    expect(start).toBeDefined();
    await fx.close();
    expect(await inFlight).toMatchObject({ data: { reason: 'broker_shutting_down' } });
    expect(transport.closeInfo).toEqual({ code: 1001, reason: 'broker shutting down' });
  });
});

describeWithRedis('revocation across instances', () => {
  it('a revoke on instance A closes the session on instance B with 4403 and answers its in-flight call', async () => {
    const idp = await createTestIdp('corp');
    const [a, b] = (await startInstancesOnRedis(brokerConfig(idp))) as [TestServer, TestServer];
    try {
      const cookie = await signIn(a.url, idp, { attributes: { email: 'alice@example.com', groups: ['engineering'] } });
      const gqlA = (query: string, variables: Record<string, unknown>) => postGraphQL(a.url, { query, variables }, { cookie });
      const created = await gqlA('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { grant { id } } }', {
        input: { server: 'everything', tools: ['trigger-long-running-operation'], reason: 'x', durationSeconds: 600 },
      });
      const grantId = (created.body.data as { createAccessRequest: { grant: { id: string } } }).createAccessRequest.grant.id;
      const token = ((await gqlA('mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token } }', {})).body.data as { createApiToken: { token: string } }).createApiToken.token;

      const { BrokerWebSocketTransport } = await import('../../clients/mcp/websocket-client-transport.js');
      const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
      const transport = new BrokerWebSocketTransport(`${b.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${token}` });
      const client = new Client({ name: 't', version: '1' });
      await client.connect(transport);
      const inFlight = client.callTool(LONG_CALL).then(
        () => 'completed',
        (error: { code?: number; data?: unknown }) => error,
      );
      await new Promise((r) => setTimeout(r, 200));
      await gqlA(REVOKE, { id: grantId });
      expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
