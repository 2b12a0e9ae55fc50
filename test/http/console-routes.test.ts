import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** The sign-in links of a page: IdP id and where each returns to. */
function signInLinks(page: string): { idp: string; returnTo: string | null }[] {
  return [...page.matchAll(/href="\/auth\/saml\/([^/"]+)\/login\?returnTo=([^"]*)"/g)].map((m) => ({
    idp: decodeURIComponent(m[1]!),
    returnTo: new URLSearchParams(`returnTo=${m[2]!.replace(/&amp;/g, '&')}`).get('returnTo'),
  }));
}

describe('console pages', () => {
  let okta: TestIdp;
  let entra: TestIdp;
  let server: TestServer;
  let cookie: string;
  beforeAll(async () => {
    okta = await createTestIdp('okta');
    entra = await createTestIdp('entra');
    server = await startTestServer({
      config: testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [
          { ...okta.config, displayName: 'Okta', emailDomains: ['example.com'] },
          { ...entra.config, displayName: 'Entra ID', emailDomains: ['partner.example'] },
        ],
      }),
    });
    cookie = await signIn(server.url, okta, { nameId: 'alice', attributes: { email: 'alice@example.com', groups: ['engineering'] } });
  });
  afterAll(() => server.close());

  it('answers a signed-out browser on a console page with the sign-in page, each IdP returning to that very page', async () => {
    const res = await fetch(`${server.url}/audit?user=bob%40example.com&type=mcp.request`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    expect(page).toContain('Sign in to Portcullis');
    expect(signInLinks(page)).toEqual([
      { idp: 'okta', returnTo: '/audit?user=bob%40example.com&type=mcp.request' },
      { idp: 'entra', returnTo: '/audit?user=bob%40example.com&type=mcp.request' },
    ]);
    expect(page).toContain('Sign in with Okta');
    expect(page).toContain('Sign in with Entra ID');
    expect(page).toContain('<link rel="stylesheet" href="/assets/portcullis.css">');
  });

  it('treats an expired or unknown session cookie as signed out', async () => {
    const res = await fetch(`${server.url}/requests`, { headers: { cookie: 'portcullis_session=not-a-session' } });
    expect(res.status).toBe(200);
    expect(signInLinks(await res.text()).map((l) => l.returnTo)).toEqual(['/requests', '/requests']);
  });

  it('/signin keeps only a same-origin returnTo, and sends a signed-in browser straight there', async () => {
    const foreign = await (await fetch(`${server.url}/signin?returnTo=${encodeURIComponent('//evil.example/x')}`)).text();
    expect(signInLinks(foreign).map((l) => l.returnTo)).toEqual(['/', '/']);
    const signedIn = await fetch(`${server.url}/signin?returnTo=${encodeURIComponent('/review')}`, { headers: { cookie }, redirect: 'manual' });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/review');
  });

  it('puts every page under a policy without inline script or style, never framed', async () => {
    for (const path of ['/signin', '/audit']) {
      const csp = (await fetch(`${server.url}${path}`)).headers.get('content-security-policy') ?? '';
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toMatch(/script-src [^;]*(?:unsafe|\*)/);
    }
    const api = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ query: '{ me { email } }' }) });
    const policy = api.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain('connect-src \'self\' ws://127.0.0.1:8080');
    expect(policy).not.toContain('upgrade-insecure-requests');
  });

  it('leaves paths outside the console to the API: an unknown one is still a JSON 404', async () => {
    const res = await fetch(`${server.url}/no-such-page`, { headers: { cookie } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
    expect((await fetch(`${server.url}/assets/no-such-file.js`)).status).toBe(404);
  });
});
