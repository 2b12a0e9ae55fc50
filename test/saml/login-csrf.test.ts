import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { encodeForPost } from '../../server/dev-idp/saml-response.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { describeOnEachStore } from '../support/each-store.js';
import { createTestIdp, decodeAuthnRequest, postToAcs, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { postGraphQL, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** What a browser sends with the IdP's auto-submitted form, or an attacker's: a cross-site navigation. */
const CROSS_SITE_NAVIGATION = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };

/** The login start as a browser makes it: its request id and its binding cookie (`name=value`), sending `cookie` if it has one. */
async function beginInBrowser(serverUrl: string, idpId: string, cookie?: string): Promise<{ requestId: string; setCookie: string; binding: string }> {
  const res = await fetch(`${serverUrl}/auth/saml/${idpId}/login`, {
    redirect: 'manual',
    headers: { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', ...(cookie ? { cookie } : {}) },
  });
  const setCookie = res.headers.get('set-cookie') ?? '';
  const requestId = decodeAuthnRequest(new URL(res.headers.get('location') ?? '').searchParams.get('SAMLRequest') ?? '').id;
  return { requestId, setCookie, binding: setCookie.split(';')[0]! };
}

/** A response posted to the ACS by a browser carrying `cookie` (or none). */
async function postFromBrowser(serverUrl: string, idp: TestIdp, xml: string, cookie?: string) {
  const res = await fetch(`${serverUrl}/auth/saml/${idp.id}/acs`, {
    method: 'POST',
    body: new URLSearchParams({ SAMLResponse: encodeForPost(xml), RelayState: '/after' }),
    redirect: 'manual',
    headers: { ...CROSS_SITE_NAVIGATION, ...(cookie ? { cookie } : {}) },
  });
  const setCookies = res.headers.getSetCookie();
  return { status: res.status, body: await res.text(), session: setCookies.find((c) => c.startsWith('portcullis_session='))?.split(';')[0], binding: setCookies.find((c) => c.startsWith('portcullis_saml=')) };
}

describeOnEachStore('an SP-initiated SAML response signs in only the browser that began the sign-in (login CSRF)', (start) => {
  let server: TestServer;
  let corp: TestIdp;
  beforeAll(async () => {
    corp = await createTestIdp('corp');
    server = await start(testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [corp.config] }));
  });
  afterAll(() => server.close());

  const loginEvents = async () => (await server.stores.audit.read({ limit: 10_000 })).filter((e: AuditEvent) => e.type === 'auth.login');
  /** Mallory's own sign-in, begun in her browser, whose signed response she keeps instead of posting it. */
  const mallorysResponse = async () => {
    const { requestId } = await beginInBrowser(server.url, 'corp');
    return corp.signedResponse({ inResponseTo: requestId, nameId: 'mallory@example.com', attributes: { email: 'mallory@example.com' } });
  };

  it('refuses it in a browser with no binding cookie: browser_mismatch, audited, no session', async () => {
    const result = await postFromBrowser(server.url, corp, await mallorysResponse());
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>browser_mismatch</code>');
    expect(result.session).toBeUndefined();
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'browser_mismatch' } });
  });

  it('refuses a pending request that holds node-saml\'s timestamp instead of a binding (what a LogoutRequest stores): browser_mismatch', async () => {
    const requestId = '_before-bindings-1';
    await server.stores.samlRequests.put(`login:corp:${requestId}`, new Date().toISOString(), Date.now() + 60_000);
    const xml = corp.signedResponse({ inResponseTo: requestId, nameId: 'alice@example.com', attributes: { email: 'alice@example.com' } });
    const result = await postFromBrowser(server.url, corp, xml);
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>browser_mismatch</code>');
    expect(result.session).toBeUndefined();
  });

  it('checks a stored value of any other form as a binding, which matches none: a browser posting without the cookie is refused', async () => {
    const requestId = '_unknown-form-1';
    await server.stores.samlRequests.put(`login:corp:${requestId}`, 'corp', Date.now() + 60_000);
    const xml = corp.signedResponse({ inResponseTo: requestId, nameId: 'alice@example.com', attributes: { email: 'alice@example.com' } });
    const result = await postFromBrowser(server.url, corp, xml);
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>browser_mismatch</code>');
  });

  it('refuses it in a browser bound to its own sign-in, and uses up the request: the response cannot be tried again', async () => {
    const victim = await beginInBrowser(server.url, 'corp');
    const planted = await mallorysResponse();
    const result = await postFromBrowser(server.url, corp, planted, victim.binding);
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>browser_mismatch</code>');
    expect(result.session).toBeUndefined();
    expect((await postToAcs(server.url, 'corp', planted)).body).toContain('<code>in_response_to_unknown</code>');
  });

  it('signs in the browser that began it, posting cross-site with its binding cookie; the last sign-in clears the cookie', async () => {
    const { requestId, setCookie, binding } = await beginInBrowser(server.url, 'corp');
    expect(setCookie).toMatch(/^portcullis_saml=[A-Za-z0-9_-]{43}\.1; Max-Age=600; Path=\/; HttpOnly$/);
    const result = await postFromBrowser(server.url, corp, corp.signedResponse({ inResponseTo: requestId }), binding);
    expect(result.status).toBe(303);
    expect(result.binding).toMatch(/^portcullis_saml=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly$/);
    const me = await postGraphQL(server.url, { query: '{ me { email } }' }, { cookie: result.session! });
    expect(me.body).toEqual({ data: { me: { email: 'alice@example.com' } } });
  });

  it('signs in tabs of one browser side by side: one binding for all, each response accepted', async () => {
    const first = await beginInBrowser(server.url, 'corp');
    const second = await beginInBrowser(server.url, 'corp', first.binding);
    expect(second.binding).toBe(first.binding.replace(/\.1$/, '.2'));
    const results = [
      await postFromBrowser(server.url, corp, corp.signedResponse({ inResponseTo: first.requestId }), second.binding),
      await postFromBrowser(server.url, corp, corp.signedResponse({ inResponseTo: second.requestId }), first.binding),
    ];
    expect(results.map((r) => r.status)).toEqual([303, 303]);
    expect(results[0]!.binding).toMatch(/^portcullis_saml=[A-Za-z0-9_-]{43}\.1;/);
  });

  it('refuses a response posted with another browser’s binding even without Fetch Metadata', async () => {
    const victim = await beginInBrowser(server.url, 'corp');
    const res = await fetch(`${server.url}/auth/saml/corp/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: encodeForPost(await mallorysResponse()) }), redirect: 'manual', headers: { cookie: victim.binding } });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('<code>browser_mismatch</code>');
  });

  it('still signs in a client that is no browser (no Fetch Metadata) and kept no cookie, as scripts and the test harness do', async () => {
    const cookie = await signIn(server.url, corp);
    expect((await postGraphQL(server.url, { query: '{ me { email } }' }, { cookie })).body).toEqual({ data: { me: { email: 'alice@example.com' } } });
  });
});

describeOnEachStore('the SAML binding cookie on https', (start) => {
  const publicUrl = 'https://portcullis.example.com';
  let server: TestServer;
  beforeAll(async () => {
    const corp = await createTestIdp('corp', publicUrl);
    server = await start(testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl }, identityProviders: [corp.config] }));
  });
  afterAll(() => server.close());

  it('is __Host-, Secure and SameSite=None: the IdP posts back cross-site, where Lax would keep it off the ACS', async () => {
    const res = await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' });
    expect(res.headers.get('set-cookie')).toMatch(/^__Host-portcullis_saml=[A-Za-z0-9_-]{43}\.1; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=None$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});

describeOnEachStore('a pending LogoutRequest never completes a sign-in, whatever an IdP is named', (start) => {
  let server: TestServer;
  let corp: TestIdp;
  let named: TestIdp;
  beforeAll(async () => {
    corp = await createTestIdp('corp');
    // An IdP whose id is the logout namespace's own name.
    named = await createTestIdp('logout');
    const sp = await selfSignedCertificate('sp');
    server = await start(
      testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [
          { ...corp.config, singleLogoutUrl: 'https://corp.idp.example.com/slo', emailDomains: ['example.com'] },
          { ...named.config, emailDomains: ['example.org'] },
        ],
        saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } },
      }),
    );
  });
  afterAll(() => server.close());

  it('refuses a response naming a pending LogoutRequest of another IdP as in_response_to_unknown, in any browser', async () => {
    // Mallory begins a Single Logout and keeps its request id, never finishing it.
    const cookie = await signIn(server.url, corp, { nameId: 'mallory@example.com', attributes: { email: 'mallory@example.com' } });
    const out = await fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: TEST_PUBLIC_URL, accept: 'application/json' } });
    const { redirect } = (await out.json()) as { redirect: string };
    const logoutRequest = inflateRawSync(Buffer.from(new URL(redirect).searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    const logoutId = /\sID="([^"]+)"/.exec(logoutRequest)![1]!;
    // Under the old keys, IdP `logout`'s login key for `corp:<id>` was the pending logout's own.
    const xml = named.signedResponse({ inResponseTo: `corp:${logoutId}`, nameId: 'mallory@example.org', attributes: { email: 'mallory@example.org' } });
    const result = await postFromBrowser(server.url, named, xml);
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>in_response_to_unknown</code>');
    expect(result.session).toBeUndefined();
  });
});
