import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOcsf } from '../../clients/audit/ocsf.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { connectWithSdk, MemoryOAuthProvider, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { oktaUser, scim, SCIM_TOKEN } from '../support/scim-client.js';
import { postToAcs, TEST_PUBLIC_URL } from '../support/test-idp.js';
import { postGraphQL } from '../support/test-server.js';

/**
 * Every audit event a client's request causes records the client's address as express
 * gives it (`req.ip`) in `data.clientAddress`, and the OCSF mapping puts it in
 * `src_endpoint.ip`. Real broker on loopback, real SAML sign-ins, real MCP and OAuth
 * clients, a real SCIM request.
 */

/** The address a loopback test client connects from (IPv4, or IPv4-mapped on a dual-stack socket). */
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$/;
const FORWARDED = '203.0.113.9';

async function eventsOf(fx: BrokerFixture, type: string, where: (event: AuditEvent) => boolean = () => true): Promise<AuditEvent[]> {
  return (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === type && where(e));
}

/** The newest event of a type (and matching `where`), once it is there. */
async function lastOf(fx: BrokerFixture, type: string, where?: (event: AuditEvent) => boolean): Promise<AuditEvent> {
  await expect.poll(async () => (await eventsOf(fx, type, where)).length).toBeGreaterThan(0);
  return (await eventsOf(fx, type, where)).at(-1)!;
}

const echo = (client: Client) => client.callTool({ name: 'echo', arguments: { message: 'hi' } });
const bySession = (sessionId: string | null) => (e: AuditEvent) => e.sessionId === sessionId;

describe('the client address on every event a client caused', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ scimToken: SCIM_TOKEN });
  });
  afterAll(() => fx.close());

  it('records it on a SAML sign-in, succeeded and refused', async () => {
    expect((await lastOf(fx, 'auth.login', (e) => e.outcome === 'SUCCESS')).data.clientAddress).toMatch(LOOPBACK);
    const refused = await postToAcs(fx.server.url, fx.idp.id, fx.idp.signedResponse({ inResponseTo: '_never-asked' }));
    expect(refused.status).not.toBe(303);
    const denied = await lastOf(fx, 'auth.login', (e) => e.outcome === 'DENIED');
    expect(denied.data.clientAddress).toMatch(LOOPBACK);
    expect(toOcsf(denied).src_endpoint).toEqual({ ip: denied.data.clientAddress });
  });

  it('records it on a GraphQL mutation (an access request and the grant it issued)', async () => {
    const grantId = await fx.grant(['echo']);
    expect((await lastOf(fx, 'access_request.created')).data.clientAddress).toMatch(LOOPBACK);
    const issued = await lastOf(fx, 'grant.issued', (e) => e.data.grantId === grantId);
    expect(issued.data.clientAddress).toMatch(LOOPBACK);
  });

  it('records it on every event of an MCP session over WebSocket, from the address it connected from', async () => {
    const { client } = await fx.connect(await fx.token());
    expect((await lastOf(fx, 'auth.token.created')).data.clientAddress).toMatch(LOOPBACK);
    await echo(client);
    const start = await lastOf(fx, 'mcp.session.start', (e) => e.data.transport === 'websocket');
    await client.close();
    await lastOf(fx, 'mcp.session.end', bySession(start.sessionId));
    const session = (await fx.server.stores.audit.read({ limit: 10_000 })).filter(bySession(start.sessionId));
    expect(session.map((e) => e.type)).toEqual(expect.arrayContaining(['mcp.session.start', 'mcp.request', 'mcp.session.end']));
    for (const event of session) expect(event.data.clientAddress).toMatch(LOOPBACK);
    const call = session.find((e) => e.type === 'mcp.request' && e.tool === 'echo')!;
    expect(toOcsf(call).src_endpoint).toEqual({ ip: call.data.clientAddress });
  });

  it('records it on every event of an MCP session over Streamable HTTP', async () => {
    const { client } = await fx.connectHttp(await fx.token());
    await echo(client);
    const start = await lastOf(fx, 'mcp.session.start', (e) => e.data.transport === 'streamable-http');
    await client.close();
    const calls = await eventsOf(fx, 'mcp.request', bySession(start.sessionId));
    expect(calls.map((e) => e.tool)).toContain('echo');
    for (const event of [start, ...calls]) expect(event.data.clientAddress).toMatch(LOOPBACK);
  });

  it('records it on OAuth registration, consent and token issue', async () => {
    const provider = new MemoryOAuthProvider('http://127.0.0.1:47001/callback', { client_name: 'Address test', redirect_uris: ['http://127.0.0.1:47001/callback'], token_endpoint_auth_method: 'none' });
    await connectWithSdk(fx.server.url, new TestBrowser(fx.server.url, fx.idp), provider, resourceUrl('everything'));
    for (const type of ['oauth.client.registered', 'oauth.consent.granted', 'oauth.token.issued']) expect((await lastOf(fx, type)).data.clientAddress, type).toMatch(LOOPBACK);
  });

  it('records it on a SCIM change', async () => {
    expect((await scim(fx.server.url, 'POST', '/Users', { body: oktaUser('scim-address@example.com') })).status).toBe(201);
    const created = await lastOf(fx, 'scim.user.created', (e) => e.data.userName === 'scim-address@example.com');
    expect(created.data.clientAddress).toMatch(LOOPBACK);
    expect(toOcsf(created).src_endpoint).toEqual({ ip: created.data.clientAddress });
  });

  it('records none on what the broker does on its own (a grant expiring)', async () => {
    const grantId = await fx.grant(['echo'], 1);
    expect((await lastOf(fx, 'grant.issued', (e) => e.data.grantId === grantId)).data.clientAddress).toMatch(LOOPBACK);
    expect((await lastOf(fx, 'grant.expired', (e) => e.data.grantId === grantId)).data.clientAddress).toBeUndefined();
  });
});

/** A GraphQL mutation and an MCP WebSocket session sent with X-Forwarded-For. */
async function forwardedRequests(fx: BrokerFixture): Promise<{ token: AuditEvent; session: AuditEvent }> {
  const res = await postGraphQL(fx.server.url, { query: 'mutation { createApiToken(name: "forwarded", scopes: ["mcp"], ttlSeconds: 600) { token } }' }, { cookie: fx.cookie, 'x-forwarded-for': FORWARDED });
  const token = (res.body.data as { createApiToken: { token: string } }).createApiToken.token;
  const ws = new WebSocket(fx.wsUrl(), 'mcp', { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': FORWARDED } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const session = await lastOf(fx, 'mcp.session.start', (e) => e.data.transport === 'websocket');
  ws.close();
  return { token: await lastOf(fx, 'auth.token.created', (e) => e.data.name === 'forwarded'), session };
}

describe('the client address behind a proxy (server.trustedProxies)', () => {
  const behind = (trustedProxies: string[]) => startBroker({ overrides: { server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL, trustedProxies } } });

  it.each([
    ['takes the X-Forwarded-For address from a trusted proxy, on HTTP requests and WebSocket upgrades alike', ['127.0.0.1'], /^203\.0\.113\.9$/],
    ['ignores X-Forwarded-For from anyone else', ['10.0.0.0/8'], LOOPBACK],
  ])('%s', async (_rule, trustedProxies, recorded) => {
    const fx = await behind(trustedProxies);
    try {
      await fx.grant(['echo']);
      const { token, session } = await forwardedRequests(fx);
      expect(token.data.clientAddress).toMatch(recorded);
      expect(session.data.clientAddress).toMatch(recorded);
    } finally {
      await fx.close();
    }
  });
});
