import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config/schema.js';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { startLogin, TEST_PUBLIC_URL } from '../support/test-idp.js';

const devIdp = {
  enabled: true,
  users: [
    { nameId: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: ['engineering'] },
    { nameId: 'carol', email: 'carol@example.com', displayName: 'Carol', groups: ['security'] },
  ],
};
const config = () => testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, devIdp, roles: [{ name: 'auditor', members: { groups: ['security'] }, audit: true }] });

/** Follows the development IdP as a browser would: its page, the user's button, the auto-posted form. */
async function signInAsDemoUser(server: TestServer, nameId: string): Promise<{ status: number; cookie: string | null; location: string | null }> {
  const start = await startLogin(server.url, 'dev', '/welcome');
  const page = await (await fetch(`${server.url}${start.location.pathname}${start.location.search}`)).text();
  const forms = [...page.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/g)];
  const form = forms.find(([, , inner]) => inner!.includes(`name="nameId" value="${nameId}"`));
  if (!form) throw new Error(`no button for ${nameId}`);
  const fields = Object.fromEntries([...form[2]!.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map(([, k, v]) => [k!, v!.replace(/&amp;/g, '&')]));
  const signed = await (await fetch(`${server.url}/dev-idp/sso`, { method: 'POST', body: new URLSearchParams(fields) })).text();
  const post = /<form id="post" method="post" action="([^"]+)">/.exec(signed)?.[1];
  const response = /name="SAMLResponse" value="([^"]+)"/.exec(signed)?.[1];
  const relayState = /name="RelayState" value="([^"]*)"/.exec(signed)?.[1] ?? '';
  expect(post).toBe(`${TEST_PUBLIC_URL}/auth/saml/dev/acs`);
  const acs = await fetch(`${server.url}/auth/saml/dev/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: response!, RelayState: relayState }), redirect: 'manual' });
  return { status: acs.status, cookie: acs.headers.get('set-cookie')?.split(';')[0] ?? null, location: acs.headers.get('location') };
}

describe('development IdP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: config() });
  });
  afterAll(() => server.close());

  it('is listed as an identity provider', async () => {
    const res = await postGraphQL(server.url, { query: '{ identityProviders { id displayName } }' });
    expect(res.body).toEqual({ data: { identityProviders: [{ id: 'dev', displayName: 'Development IdP (demo users)' }] } });
  });

  it('signs in a demo user with a real signature through the ordinary ACS', async () => {
    const result = await signInAsDemoUser(server, 'carol');
    expect(result.status).toBe(303);
    expect(result.location).toBe('/welcome');
    const me = await postGraphQL(server.url, { query: '{ me { id email groups roles } }' }, { cookie: result.cookie! });
    expect(me.body).toEqual({ data: { me: { id: 'dev:carol', email: 'carol@example.com', groups: ['security'], roles: ['auditor'] } } });
  });

  it('refuses a user who is not in the config', async () => {
    const res = await fetch(`${server.url}/dev-idp/sso`, { method: 'POST', body: new URLSearchParams({ requestId: '_x', nameId: 'mallory' }) });
    expect(res.status).toBe(400);
  });
});

describe('development IdP off loopback', () => {
  it('is refused by the config: the broker would not start', () => {
    const exposed = { host: '0.0.0.0', port: 0, publicUrl: 'https://portcullis.example.com' };
    const parsed = configSchema.safeParse({ server: exposed, devIdp });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['server.host', expect.stringMatching(/devIdp is enabled: .*loopback/)],
      ['server.publicUrl', expect.stringMatching(/devIdp is enabled: .*loopback/)],
    ]);
  });

  it('is not started unless enabled: no routes, not listed', async () => {
    const server = await startTestServer({ config: testConfig({ devIdp: { ...devIdp, enabled: false } }) });
    try {
      expect((await fetch(`${server.url}/dev-idp/sso?SAMLRequest=x`)).status).toBe(404);
      expect((await fetch(`${server.url}/auth/saml/dev/login`, { redirect: 'manual' })).status).toBe(404);
      const res = await postGraphQL(server.url, { query: '{ identityProviders { id } }' });
      expect(res.body).toEqual({ data: { identityProviders: [] } });
    } finally {
      await server.close();
    }
  });
});
