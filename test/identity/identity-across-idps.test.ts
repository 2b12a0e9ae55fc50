import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { createApiToken, postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, postToAcs, signIn, startLogin, TEST_PUBLIC_URL, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

const AUDIT = '{ auditEvents(first: 100) { items { actor } } }';
const person = (email: string, groups: string[] = []) => ({ nameId: email, attributes: { email, groups } });

/** Two federated IdPs: `corp` vouches for example.com and its subdomains, `partner` for partner.example. */
function twoIdps(corp: TestIdp, partner: TestIdp, roles: unknown[]) {
  return testConfig({
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
    identityProviders: [
      { ...corp.config, emailDomains: ['example.com', '*.example.com'] },
      { ...partner.config, emailDomains: ['Partner.Example'] },
    ],
    roles,
  });
}

describe('identity across IdPs', () => {
  let server: TestServer;
  let corp: TestIdp;
  let partner: TestIdp;
  const me = async (cookie: string) => (await postGraphQL(server.url, { query: '{ me { id email idp roles } }' }, { cookie })).body;

  beforeAll(async () => {
    [corp, partner] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    server = await startTestServer({
      config: twoIdps(corp, partner, [
        { name: 'auditor', members: { emails: ['carol@example.com'] }, audit: true },
        { name: 'security', members: { groups: ['security'], idps: ['corp'] }, audit: true },
        { name: 'partner-liaison', members: { emails: ['carol@example.com', 'pat@partner.example'], idps: ['partner'] } },
      ]),
    });
  });
  afterAll(() => server.close());

  it("refuses an IdP asserting another IdP's address, audits it with a stable reason, and opens no session", async () => {
    const { requestId } = await startLogin(server.url, 'partner');
    const result = await postToAcs(server.url, 'partner', partner.signedResponse({ inResponseTo: requestId, ...person('carol@example.com', ['security']) }));
    expect(result.status).toBe(401);
    expect(result.cookie).toBeNull();
    const events = await server.stores.audit.read({ limit: 1000 });
    expect(events.filter((e) => e.actor === 'carol@example.com')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'auth.login', outcome: 'DENIED', actor: null, data: { idp: 'partner', reason: 'email_domain_not_allowed' } });
  });

  it('compares the domain case-insensitively, on the part after the last @, exactly or as a subdomain', async () => {
    expect((await me(await signIn(server.url, corp, person('Carol@EXAMPLE.com')))).data).toMatchObject({ me: { idp: 'corp', roles: ['auditor'] } });
    expect((await me(await signIn(server.url, corp, person('dan@eu.Example.com')))).data).toMatchObject({ me: { idp: 'corp' } });
    expect((await me(await signIn(server.url, partner, person('pat@partner.example')))).data).toMatchObject({ me: { idp: 'partner', roles: ['partner-liaison'] } });
    for (const [idp, email] of [
      [corp, 'eve@notexample.com'],
      [corp, 'eve@example.com.evil.test'],
      [partner, 'eve@sub.partner.example'],
    ] as const) {
      const { requestId } = await startLogin(server.url, idp.id);
      expect((await postToAcs(server.url, idp.id, idp.signedResponse({ inResponseTo: requestId, ...person(email) }))).status).toBe(401);
    }
  });

  it('counts a group only from the IdPs a role names', async () => {
    const own = await signIn(server.url, partner, person('mallory@partner.example', ['security']));
    expect((await me(own)).data).toMatchObject({ me: { roles: [] } });
    const audit = await postGraphQL(server.url, { query: AUDIT }, { cookie: own });
    const actors = new Set((audit.body.data as { auditEvents: { items: { actor: string | null }[] } }).auditEvents.items.map((e) => e.actor));
    expect(actors).toEqual(new Set(['mallory@partner.example']));
    const real = await signIn(server.url, corp, person('sam@example.com', ['security']));
    expect((await me(real)).data).toMatchObject({ me: { roles: ['security'] } });
  });

  it('counts an email only from the IdPs a role names', async () => {
    const carol = await signIn(server.url, corp, person('carol@example.com'));
    expect((await me(carol)).data).toMatchObject({ me: { id: 'corp:carol@example.com', roles: ['auditor'] } });
  });
});

describeWithRedis('credentials issued before the IdP rules changed', () => {
  it("stop working once their IdP may no longer assert the address: no one becomes a namesake's", async () => {
    const [corp, partner] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    const roles = [{ name: 'auditor', members: { emails: ['carol@example.com'] }, audit: true }];
    const prefix = uniquePrefix();
    // Before: partner was the only IdP, trusted for any domain.
    const before = await startTestServer({
      config: configTrusting([partner], { roles }),
      stores: await redisStoresForTest({ prefix }),
    });
    // After: corp joined for example.com; partner keeps partner.example. Same store.
    const after = await startTestServer({ config: twoIdps(corp, partner, roles), stores: await redisStoresForTest({ prefix }) });
    try {
      const cookie = await signIn(before.url, partner, person('carol@example.com'));
      const token = await createApiToken(before.url, cookie, ['api', 'audit:read']);
      expect((await postGraphQL(before.url, { query: '{ me { roles } }' }, { cookie })).body.data).toEqual({ me: { roles: ['auditor'] } });
      for (const headers of [{ cookie }, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
        const res = await postGraphQL(after.url, { query: AUDIT }, headers);
        expect(res.status).toBe(401);
        expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
    } finally {
      await Promise.all([before.close(), after.close()]);
    }
  });

  it('stop working once their IdP is removed from the config', async () => {
    const [corp, partner] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    const prefix = uniquePrefix();
    const config = (idps: TestIdp[]) => testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: idps.map((idp) => idp.config) });
    const before = await startTestServer({ config: config([partner]), stores: await redisStoresForTest({ prefix }) });
    const after = await startTestServer({ config: config([corp]), stores: await redisStoresForTest({ prefix }) });
    try {
      const cookie = await signIn(before.url, partner, person('pat@partner.example'));
      expect((await postGraphQL(after.url, { query: '{ me { id } }' }, { cookie })).status).toBe(401);
    } finally {
      await Promise.all([before.close(), after.close()]);
    }
  });
});
