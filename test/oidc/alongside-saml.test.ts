import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInWithOp, startTestOp } from '../support/oidc-op.js';
import type { TestOp } from '../support/oidc-op.js';
import { ManualClock } from '../support/manual-clock.js';
import { createTestIdp, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** A loopback address where nothing listens (a port just freed). */
async function deadIssuer(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** PKCE challenge-shaped values for `portcullis login`'s query (the broker checks shape only here). */
const CLI_QUERY = { port: '43210', state: 'cli-state-0123456789abcdef', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

describe('OIDC IdPs beside SAML ones, and a provider that is down', () => {
  let server: TestServer;
  let corp: TestOp;
  let saml: TestIdp;

  beforeAll(async () => {
    corp = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['engineering'] } });
    saml = await createTestIdp('legacy');
    server = await startTestServer({
      config: testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [
          { ...saml.config, emailDomains: ['legacy.example'] },
          corp.config({ emailDomains: ['example.com'] }),
          { id: 'down', type: 'oidc', displayName: 'Down Provider', issuer: await deadIssuer(), clientId: 'portcullis', emailDomains: ['down.example'] },
        ],
      }),
    });
  });
  afterAll(async () => {
    await server.close();
    await corp.close();
  });

  it('starts with a provider down; that IdP\'s sign-in says it is unavailable (503, audited provider_unavailable) while the others sign in', async () => {
    const before = (await server.stores.audit.read({ limit: 10_000 })).length;
    const res = await fetch(`${server.url}/auth/oidc/down/login?returnTo=/`, { redirect: 'manual' });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('Down Provider is unavailable');
    expect(res.headers.getSetCookie()).toEqual([]);
    const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
    expect(events.map((e) => [e.type, e.outcome, e.data])).toEqual([['auth.login', 'DENIED', { idp: 'down', reason: 'provider_unavailable', clientAddress: '127.0.0.1' }]]);
    expect(server.logs.join('\n')).toMatch(/OIDC provider discovery failed/);
    expect((await signInWithOp(server.url, 'corp')).callback.status).toBe(303);
  });

  it('lists every IdP on the sign-in page, each link starting its own protocol\'s sign-in', async () => {
    const page = await (await fetch(`${server.url}/signin?returnTo=${encodeURIComponent('/requests')}`)).text();
    const links = [...page.matchAll(/<a class="button" href="([^"]+)">Sign in with ([^<]+)<\/a>/g)].map((m) => [m[1]!.replaceAll('&amp;', '&'), m[2]]);
    expect(links).toEqual([
      ['/auth/saml/legacy/login?returnTo=%2Frequests', 'legacy SSO'],
      ['/auth/oidc/corp/login?returnTo=%2Frequests', 'corp OIDC'],
      ['/auth/oidc/down/login?returnTo=%2Frequests', 'Down Provider'],
    ]);
    const followed = await fetch(`${server.url}${links[1]![0]}`, { redirect: 'manual' });
    expect(followed.status).toBe(302);
    const location = new URL(followed.headers.get('location')!);
    expect(location.origin).toBe(corp.issuer);
    expect(location.searchParams.get('client_id')).toBe(corp.clientId);
  });

  it('lists OIDC IdPs in the API, for sign-in pages and `portcullis login`', async () => {
    const { body } = await postGraphQL(server.url, { query: '{ identityProviders { id displayName } }' });
    expect(body).toEqual({ data: { identityProviders: [{ id: 'legacy', displayName: 'legacy SSO' }, { id: 'corp', displayName: 'corp OIDC' }, { id: 'down', displayName: 'Down Provider' }] } });
  });

  it('starts `portcullis login` with an OIDC IdP, which returns to the CLI confirmation as that user', async () => {
    const start = await fetch(`${server.url}/auth/cli/login?${new URLSearchParams({ ...CLI_QUERY, idp: 'corp' })}`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const location = new URL(start.headers.get('location')!, server.url);
    expect(location.pathname).toBe('/auth/oidc/corp/login');
    const returnTo = location.searchParams.get('returnTo')!;
    const { callback, session } = await signInWithOp(server.url, 'corp', returnTo);
    expect(callback.headers.get('location')).toBe(returnTo);
    const confirm = await fetch(`${server.url}${returnTo}`, { headers: { cookie: session! } });
    expect(confirm.status).toBe(200);
    const page = await confirm.text();
    expect(page).toContain('Sign in the Portcullis CLI?');
    expect(page).toContain('alice@example.com');
  });
});

describe('a provider that comes back', () => {
  it('is discovered again after the retry pause (not on every sign-in meanwhile), and its sign-ins work (a public client: PKCE, no secret)', async () => {
    const issuer = await deadIssuer();
    const clock = new ManualClock();
    const server = await startTestServer({
      clock,
      config: testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [{ id: 'late', type: 'oidc', issuer, clientId: 'portcullis-late', emailDomains: ['example.com'] }] }),
    });
    const login = () => fetch(`${server.url}/auth/oidc/late/login`, { redirect: 'manual' });
    let op: TestOp | undefined;
    try {
      expect((await login()).status).toBe(503);
      op = await startTestOp('late', { alice: { email: 'alice@example.com', email_verified: true } }, { port: Number(new URL(issuer).port), publicClient: true });
      expect((await login()).status).toBe(503);
      clock.advance(30_001);
      expect((await login()).status).toBe(302);
      expect((await signInWithOp(server.url, 'late')).callback.status).toBe(303);
    } finally {
      await server.close();
      await op?.close();
    }
  });
});
