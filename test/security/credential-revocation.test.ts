import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createClient } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { createApiToken, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

/**
 * Security review, class 3: revoking a token, signing out or a sign-in expiring closes
 * every live connection opened with that credential (MCP sessions, GraphQL
 * subscriptions), on every instance, as a grant revocation does.
 */

const LONG_CALL = { name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 2 } };
const ALICE = { attributes: { email: 'alice@example.com', groups: ['engineering'] } };
const CAROL = { nameId: 'carol@example.com', attributes: { email: 'carol@example.com', groups: ['security'] } };

interface Deployment {
  idp: TestIdp;
  /** One instance, or two sharing a store: `a` issues credentials, `b` holds the connections. */
  a: TestServer;
  b: TestServer;
}

type Start = (overrides?: Record<string, unknown>) => Promise<Deployment>;

const roles = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 3600, autoApprove: true }] },
  { name: 'auditor', members: { groups: ['security'] }, audit: true },
];

function suite(name: string, start: Start): void {
  describe(name, () => {
    const open: Deployment[] = [];
    const deploy = async (overrides: Record<string, unknown> = {}) => {
      const d = await start({ roles, ...overrides });
      open.push(d);
      return d;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).flatMap((d) => (d.a === d.b ? [d.a.close()] : [d.a.close(), d.b.close()])));
    });

    const granted = async (d: Deployment) => {
      const cookie = await signIn(d.a.url, d.idp, ALICE);
      await postGraphQL(d.a.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["*"], reason: "t", durationSeconds: 600 }) { id } }' }, { cookie });
      return cookie;
    };
    const mcpSession = async (d: Deployment, headers: Record<string, string>) => {
      const transport = new BrokerWebSocketTransport(`${d.b.wsUrl}/mcp/ws/everything`, headers);
      const client = new Client({ name: 'revocation-test', version: '1' });
      await client.connect(transport);
      return { client, transport };
    };

    it('revoking an API token closes its MCP session (4401) and answers the call in flight', async () => {
      const d = await deploy();
      const cookie = await granted(d);
      const created = await postGraphQL(d.a.url, { query: 'mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token apiToken { id } } }' }, { cookie });
      const { token, apiToken } = (created.body.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
      const { client, transport } = await mcpSession(d, { authorization: `Bearer ${token}` });
      const inFlight = client.callTool(LONG_CALL).then(
        () => 'completed',
        (error: unknown) => error,
      );
      await new Promise((r) => setTimeout(r, 200));
      await postGraphQL(d.a.url, { query: 'mutation($id: ID!) { revokeApiToken(id: $id) { id } }', variables: { id: apiToken.id } }, { cookie });
      expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'credential_revoked' } });
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'API token revoked' });
    });

    it('closes a session whose token was revoked while the session was being admitted, before it could hear of it', async () => {
      const d = await deploy();
      const cookie = await granted(d);
      const created = await postGraphQL(d.a.url, { query: 'mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token apiToken { id } } }' }, { cookie });
      const { token, apiToken } = (created.body.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
      // The admission reads the person's grants after the token was checked: the revocation lands then, its news reaching no session yet.
      const access = d.b.stores.access;
      const listGrants = access.listGrants.bind(access);
      let revoked = false;
      access.listGrants = async (query) => {
        if (!revoked) {
          revoked = true;
          const revoke = await postGraphQL(d.a.url, { query: 'mutation($id: ID!) { revokeApiToken(id: $id) { id } }', variables: { id: apiToken.id } }, { cookie });
          expect(revoke.body).toMatchObject({ data: { revokeApiToken: { id: apiToken.id } } });
        }
        return listGrants(query);
      };
      const transport = new BrokerWebSocketTransport(`${d.b.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${token}` });
      await new Client({ name: 'revocation-test', version: '1' }).connect(transport).catch(() => {});
      expect(revoked).toBe(true);
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'API token revoked' });
    });

    it('signing out closes the MCP session the browser sign-in opened (4401)', async () => {
      const d = await deploy();
      const cookie = await granted(d);
      const { transport } = await mcpSession(d, { cookie, origin: new URL(TEST_PUBLIC_URL).origin });
      const out = await fetch(`${d.a.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: new URL(TEST_PUBLIC_URL).origin } });
      expect(out.status).toBe(204);
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'signed out' });
    });

    it('closes an audit subscription opened with a revoked audit:read token, instead of feeding it everyone\'s events', async () => {
      const d = await deploy();
      const carol = await signIn(d.a.url, d.idp, CAROL);
      const created = await postGraphQL(d.a.url, { query: 'mutation { createApiToken(name: "siem", scopes: ["audit:read"], ttlSeconds: 600) { token apiToken { id } } }' }, { cookie: carol });
      const { token, apiToken } = (created.body.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
      const client = createClient({ url: `${d.b.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on('closed', (event) => resolve(event as { code: number; reason: string })));
      const received: unknown[] = [];
      const ended = new Promise<unknown>((resolve) =>
        client.subscribe({ query: 'subscription { auditEvents { type } }' }, { next: (v) => received.push(v), error: resolve, complete: () => resolve('complete') }),
      );
      await new Promise((resolve) => client.on('connected', resolve));
      await postGraphQL(d.a.url, { query: 'mutation($id: ID!) { revokeApiToken(id: $id) { id } }', variables: { id: apiToken.id } }, { cookie: carol });
      expect(await closed).toMatchObject({ code: 4401, reason: 'API token revoked' });
      await ended;
      const before = received.length;
      await signIn(d.a.url, d.idp, ALICE);
      await new Promise((r) => setTimeout(r, 300));
      expect(received.length).toBe(before);
      await client.dispose();
    });

    it('closes a session when its token expires', async () => {
      const d = await deploy();
      const cookie = await granted(d);
      const token = await createApiToken(d.a.url, cookie, ['mcp'], 2);
      const { transport } = await mcpSession(d, { authorization: `Bearer ${token}` });
      await expect.poll(() => transport.closeInfo, { timeout: 8_000 }).toEqual({ code: 4401, reason: 'API token expired' });
    });

    it('closes a session whose token vanished without a revocation event (the periodic re-check)', async () => {
      const d = await deploy({ broker: { revalidateIntervalSeconds: 1 } });
      const cookie = await granted(d);
      const created = await postGraphQL(d.a.url, { query: 'mutation { createApiToken(name: "t", scopes: ["mcp"], ttlSeconds: 600) { token apiToken { id } } }' }, { cookie });
      const { token, apiToken } = (created.body.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
      const { transport } = await mcpSession(d, { authorization: `Bearer ${token}` });
      // Straight from the store: no bus event is sent, as when pub/sub drops one.
      await d.a.stores.tokens.delete(apiToken.id);
      await expect.poll(() => transport.closeInfo, { timeout: 8_000 }).toEqual({ code: 4401, reason: 'API token revoked' });
    });
  });
}

suite('credential ends close live connections (embedded store)', async (overrides = {}) => {
  const idp = await createTestIdp('corp');
  const server = await startTestServer({ config: brokerConfig(idp, overrides), clock: systemClock });
  return { idp, a: server, b: server };
});

describeWithRedis('across instances', () => {
  suite('credential ends close live connections on another instance (Redis store)', async (overrides = {}) => {
    const idp = await createTestIdp('corp');
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([0, 1].map(async () => startTestServer({ config: brokerConfig(idp, overrides), clock: systemClock, stores: await redisStoresForTest({ prefix, clock: systemClock }) })));
    return { idp, a: a!, b: b! };
  });
});
