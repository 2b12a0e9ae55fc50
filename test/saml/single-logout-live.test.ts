import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { idpLogoutUrl, logoutRequestXml, redirectQuery } from '../support/test-idp-logout.js';
import { cookieWsClient, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = { attributes: { email: 'alice@example.com', groups: ['engineering'] } };
const ORIGIN = new URL(TEST_PUBLIC_URL).origin;

interface Deployment {
  idp: TestIdp;
  /** `a` signs in and receives the IdP's LogoutRequest; `b` holds the live connections (the same instance, or another on one Redis). */
  a: TestServer;
  b: TestServer;
}

/**
 * A LogoutRequest from the IdP closes what the ended sessions opened, on every instance:
 * the MCP session (4401) and the GraphQL subscription, as signing out here does.
 */
function suite(name: string, start: (overrides: Record<string, unknown>) => Promise<Deployment>): void {
  describe(name, () => {
    const open: Deployment[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).flatMap((d) => (d.a === d.b ? [d.a.close()] : [d.a.close(), d.b.close()])));
    });

    it('closes the live MCP session (4401 signed out) and the GraphQL subscription of the session the IdP ended', async () => {
      const sp = await selfSignedCertificate('portcullis-sp');
      const d = await start({ saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } } });
      open.push(d);
      const cookie = await signIn(d.a.url, d.idp, ALICE);
      await postGraphQL(d.a.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "t", durationSeconds: 600 }) { id } }' }, { cookie });

      const transport = new BrokerWebSocketTransport(`${d.b.wsUrl}/mcp/ws/everything`, { cookie, origin: ORIGIN });
      const mcp = new Client({ name: 'slo-test', version: '1' });
      await mcp.connect(transport);
      const graphql = cookieWsClient(d.b, cookie, TEST_PUBLIC_URL);
      const closed = new Promise<{ code: number; reason: string }>((resolve) => graphql.on('closed', (event) => resolve(event as { code: number; reason: string })));
      await new Promise<void>((resolve, reject) => {
        graphql.on('connected', () => resolve());
        graphql.subscribe({ query: 'subscription { grantChanged { id } }' }, { next: () => {}, error: reject, complete: () => {} });
      });

      const res = await fetch(`${d.a.url}/auth/saml/${d.idp.id}/slo?${redirectQuery(logoutRequestXml(d.idp), d.idp.key)}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'signed out' });
      expect(await closed).toMatchObject({ code: 4401 });
      await graphql.dispose();
    });
  });
}

const corpWithSlo = async () => {
  const idp = await createTestIdp('corp');
  idp.config.singleLogoutUrl = idpLogoutUrl(idp);
  return idp;
};

suite('IdP-initiated Single Logout closes live connections (embedded store)', async (overrides) => {
  const idp = await corpWithSlo();
  const server = await startTestServer({ config: brokerConfig(idp, overrides), clock: systemClock });
  return { idp, a: server, b: server };
});

describeWithRedis('across instances', () => {
  suite('IdP-initiated Single Logout closes live connections on another instance (Redis store)', async (overrides) => {
    const idp = await corpWithSlo();
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([0, 1].map(async () => startTestServer({ config: brokerConfig(idp, overrides), clock: systemClock, stores: await redisStoresForTest({ prefix, clock: systemClock }) })));
    return { idp, a: a!, b: b! };
  });
});
