import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, postToAcs, signIn, startLogin, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

/** The origin of the broker's own pages (its publicUrl). */
const OUR_ORIGIN = new URL(TEST_PUBLIC_URL).origin;

describe('SAML sign-in end to end', () => {
  let server: TestServer;
  let corp: TestIdp;
  let partner: TestIdp;

  beforeAll(async () => {
    [corp, partner] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    server = await startTestServer({
      config: testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [
          { ...corp.config, emailDomains: ['example.com'] },
          { ...partner.config, emailDomains: ['partner.example'] },
        ],
        roles: [{ name: 'engineer', members: { groups: ['engineering'] } }, { name: 'auditor', members: { emails: ['bob@partner.example'] }, audit: true }],
      }),
    });
  });
  afterAll(() => server.close());

  it('redirects to the IdP with a deflated AuthnRequest and the returnTo path as RelayState', async () => {
    const { location, relayState, requestId } = await startLogin(server.url, 'corp', '/requests?mine=1');
    expect(`${location.origin}${location.pathname}`).toBe('https://corp.idp.example.com/sso');
    expect(relayState).toBe('/requests?mine=1');
    expect(requestId).toMatch(/^_/);
  });

  it('never puts a foreign URL in RelayState (no open redirect)', async () => {
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)']) {
      expect((await startLogin(server.url, 'corp', evil)).relayState).toBe('/');
    }
  });

  it('signs in: IdP → ACS → HttpOnly SameSite=Lax cookie → redirect to returnTo → me', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }), '/after-login');
    expect(result.status).toBe(303);
    expect(result.location).toBe('/after-login');
    expect(result.setCookie).toMatch(/^portcullis_session=pcs_[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    const me = await postGraphQL(server.url, { query: '{ me { id email displayName idp groups roles } }' }, { cookie: result.cookie! });
    expect(me.body).toEqual({
      data: { me: { id: 'corp:alice@example.com', email: 'alice@example.com', displayName: 'Alice Example', idp: 'corp', groups: ['engineering', 'sre'], roles: ['engineer'] } },
    });
  });

  it('signs in through a second IdP, with identity scoped to that IdP', async () => {
    const cookie = await signIn(server.url, partner, { nameId: 'bob', attributes: { email: 'bob@partner.example' } });
    const me = await postGraphQL(server.url, { query: '{ me { id email idp groups roles } }' }, { cookie });
    expect(me.body).toEqual({ data: { me: { id: 'partner:bob', email: 'bob@partner.example', idp: 'partner', groups: [], roles: ['auditor'] } } });
  });

  it('ignores a RelayState that is not a same-origin path', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }), 'https://evil.example/');
    expect(result.status).toBe(303);
    expect(result.location).toBe('/');
  });

  it('serves SP metadata with the entity id and ACS of that IdP', async () => {
    const res = await fetch(`${server.url}/auth/saml/partner/metadata`);
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${partner.spEntityId}"`);
    expect(xml).toContain(`Location="${partner.acsUrl}"`);
  });

  it('answers 404 for an unknown IdP', async () => {
    expect((await fetch(`${server.url}/auth/saml/nope/login`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${server.url}/auth/saml/nope/metadata`)).status).toBe(404);
  });

  const logout = (cookie: string, origin?: string) => fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie, ...(origin === undefined ? {} : { origin }) } });

  it('logs out: the session stops working and the cookie is cleared', async () => {
    const cookie = await signIn(server.url, corp);
    const res = await logout(cookie, OUR_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/portcullis_session=; Path=\/; Expires=Thu, 01 Jan 1970/);
    const me = await postGraphQL(server.url, { query: '{ me { id } }' }, { cookie });
    expect(me.status).toBe(401);
    expect(me.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a logout posted from another origin, or without one (logout CSRF): 403, the session lives on', async () => {
    const cookie = await signIn(server.url, corp);
    for (const origin of ['https://evil.example', 'null', undefined]) {
      const res = await logout(cookie, origin);
      expect(res.status, String(origin)).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    const me = await postGraphQL(server.url, { query: '{ me { email } }' }, { cookie });
    expect(me.body).toEqual({ data: { me: { email: 'alice@example.com' } } });
  });

  it('audits logins and logouts, never the assertion', async () => {
    const cookie = await signIn(server.url, corp, { nameId: 'carol@example.com', attributes: { email: 'carol@example.com' } });
    await logout(cookie, OUR_ORIGIN);
    const events = await server.stores.audit.read({ limit: 1000 });
    const carol = events.filter((e) => e.actor === 'carol@example.com');
    expect(carol.map((e) => [e.type, e.outcome])).toEqual([
      ['auth.login', 'SUCCESS'],
      ['auth.logout', 'SUCCESS'],
    ]);
    expect(carol[0]?.data).toMatchObject({ idp: 'corp', nameId: 'carol@example.com' });
    expect(JSON.stringify(events)).not.toMatch(/SAMLResponse|Signature|BEGIN CERTIFICATE/);
  });
});

describe('SAML sign-in with https publicUrl', () => {
  it('sets a Secure __Host- cookie', async () => {
    const idp = await createTestIdp('corp', 'https://portcullis.example.com');
    const server = await startTestServer({
      config: testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: 'https://portcullis.example.com' }, identityProviders: [idp.config] }),
    });
    try {
      const { requestId } = await startLogin(server.url, 'corp');
      const result = await postToAcs(server.url, 'corp', idp.signedResponse({ inResponseTo: requestId }));
      expect(result.setCookie).toMatch(/^__Host-portcullis_session=pcs_[^;]+; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/);
    } finally {
      await server.close();
    }
  });
});
