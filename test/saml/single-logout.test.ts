import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { newSamlId } from '../../server/dev-idp/saml-response.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import { selfSignedCertificate } from '../support/certificates.js';
import type { KeyPair } from '../support/certificates.js';
import { bearer, connectWithSdk, DCR_METADATA, MemoryOAuthProvider, mcpIdentity, mcpRefusal, oauthConfig, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { createTestIdp, postToAcs, startLogin, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { idpLogoutUrl, logoutRequestXml, logoutResponseXml, signedPostForm, readSignedPostPage, readSignedRedirect, redirectQuery, spLogoutUrl } from '../support/test-idp-logout.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ORIGIN = new URL(TEST_PUBLIC_URL).origin;
const ALICE_ID = 'corp:alice@example.com';

let corp: TestIdp;
/** A second signing key of corp's: EC P-256 (an IdP may sign its Redirect messages with ECDSA). */
let corpEc: KeyPair;
let sp: KeyPair;
let config: PortcullisConfig;
let server: TestServer;

beforeAll(async () => {
  corp = await createTestIdp('corp');
  corpEc = await selfSignedCertificate('corp-idp-ec', 'ec');
  corp.config.singleLogoutUrl = idpLogoutUrl(corp);
  corp.config.idpCert = [corp.key.cert, corpEc.cert];
  sp = await selfSignedCertificate('portcullis-sp');
  config = oauthConfig(corp, {}, { saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } } });
  server = await startTestServer({ config, clock: systemClock });
});
afterAll(() => server.close());

/** A whole sign-in as alice; the cookie and the SessionIndex the IdP gave it. */
async function signInAlice(): Promise<{ cookie: string; sessionIndex: string }> {
  const { requestId } = await startLogin(server.url, 'corp');
  const xml = corp.signedResponse({ inResponseTo: requestId });
  const result = await postToAcs(server.url, 'corp', xml);
  if (result.status !== 303 || !result.cookie) throw new Error(`sign-in answered ${result.status}`);
  return { cookie: result.cookie, sessionIndex: /SessionIndex="([^"]+)"/.exec(xml)![1]! };
}

const liveSessions = async () => (await server.stores.sessions.listByUser(ALICE_ID)).map((s) => s.id).sort();
const auditLength = async () => (await server.stores.audit.read({ limit: 10_000 })).length;
const auditSince = async (before: number) => (await server.stores.audit.read({ limit: 10_000 })).slice(before);
const slo = (query: string) => fetch(`${server.url}/auth/saml/corp/slo?${query}`, { redirect: 'manual' });
const sloPost = (form: URLSearchParams) => fetch(`${server.url}/auth/saml/corp/slo`, { method: 'POST', body: form, redirect: 'manual' });
/** Signing out as the console does: it asks for JSON, so it can follow the IdP's Single Logout. */
const logout = (cookie: string) => fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: ORIGIN, accept: 'application/json' } });

describe('SP-initiated Single Logout', () => {
  it('ends the broker session and sends the browser to the IdP with a LogoutRequest signed by our key, naming the NameID and SessionIndex of the sign-in', async () => {
    const { cookie, sessionIndex } = await signInAlice();
    const before = await liveSessions();
    const res = await logout(cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);
    const { redirect } = (await res.json()) as { redirect: string };
    expect(redirect.startsWith(`${idpLogoutUrl(corp)}?`)).toBe(true);
    const { root } = readSignedRedirect(redirect, sp.cert);
    expect(root.localName).toBe('LogoutRequest');
    expect(root.getAttribute('Destination')).toBe(idpLogoutUrl(corp));
    expect(root.getElementsByTagName('saml:Issuer')[0]?.textContent).toBe(corp.spEntityId);
    expect(root.getElementsByTagName('saml:NameID')[0]?.textContent).toBe('alice@example.com');
    expect(root.getElementsByTagName('saml2p:SessionIndex')[0]?.textContent).toBe(sessionIndex);
    expect(await liveSessions()).toEqual(before.filter((id) => !cookie.includes(id)));
    expect(before.length - (await liveSessions()).length).toBe(1);
  });

  it('answers 204 as before to a caller that does not ask for JSON: signed out here, the IdP not told', async () => {
    const { cookie } = await signInAlice();
    const before = (await liveSessions()).length;
    const res = await fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: ORIGIN } });
    expect(res.status).toBe(204);
    expect((await liveSessions()).length).toBe(before - 1);
  });

  it("lands on the sign-in page when the IdP's signed LogoutResponse comes back (Redirect or POST), and only once", async () => {
    for (const binding of ['redirect', 'post'] as const) {
      const { redirect } = (await (await logout((await signInAlice()).cookie)).json()) as { redirect: string };
      const requestId = readSignedRedirect(redirect, sp.cert).root.getAttribute('ID')!;
      const answer = () => (binding === 'redirect' ? slo(redirectQuery(logoutResponseXml(corp, requestId), corp.key)) : sloPost(signedPostForm(logoutResponseXml(corp, requestId), corp.key)));
      const first = await answer();
      expect([first.status, first.headers.get('location')]).toEqual([303, '/signin']);
      const again = await answer();
      expect(again.status).toBe(400);
      expect(await again.text()).toContain('<code>in_response_to_unknown</code>');
    }
  });

  it('refuses a LogoutResponse to a request we never sent, even signed by the IdP', async () => {
    const res = await slo(redirectQuery(logoutResponseXml(corp, newSamlId()), corp.key));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<code>in_response_to_unknown</code>');
  });

  it('refuses an AuthnRequest id as the answer to a logout (the two kinds of pending request are apart)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const res = await slo(redirectQuery(logoutResponseXml(corp, requestId), corp.key));
    expect(res.status).toBe(400);
  });

  it('publishes our SingleLogoutService in the SP metadata, in both bindings it takes', async () => {
    const metadata = await (await fetch(`${server.url}/auth/saml/corp/metadata`)).text();
    const services = [...metadata.matchAll(/<SingleLogoutService [^>]*>/g)].map(([tag]) => ({ binding: /Binding="([^"]+)"/.exec(tag)?.[1], location: /Location="([^"]+)"/.exec(tag)?.[1] }));
    expect(services).toEqual([
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: spLogoutUrl(corp) },
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', location: spLogoutUrl(corp) },
    ]);
  });

  it('ends the OAuth authorizations the session approved: their access token is refused at once', async () => {
    const browser = new TestBrowser(server.url, corp);
    const tokens = await connectWithSdk(server.url, browser, new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA), resourceUrl('a'));
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    expect((await mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined)).user.email).toBe('alice@example.com');
    const before = await auditLength();
    expect((await logout(browser.cookie!)).status).toBe(200);
    expect((await auditSince(before)).map((e) => [e.type, e.data?.reason ?? e.data?.initiatedBy])).toEqual([
      ['auth.logout', 'sp'],
      ['oauth.token.revoked', 'signed_out'],
    ]);
    expect(await mcpRefusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
  });
});

describe('IdP-initiated Single Logout', () => {
  it('via HTTP-Redirect: ends every session of the user, and answers with a signed LogoutResponse to the IdP', async () => {
    await signInAlice();
    await signInAlice();
    expect((await liveSessions()).length).toBeGreaterThanOrEqual(2);
    const before = await auditLength();
    const request = logoutRequestXml(corp);
    const res = await slo(redirectQuery(request, corp.key, { relayState: 'idp-state-1' }));
    expect(res.status).toBe(302);
    expect(await liveSessions()).toEqual([]);
    const answer = readSignedRedirect(res.headers.get('location')!, sp.cert);
    expect(res.headers.get('location')!.startsWith(`${idpLogoutUrl(corp)}?`)).toBe(true);
    expect(answer.root.localName).toBe('LogoutResponse');
    expect(answer.root.getAttribute('InResponseTo')).toBe(/ID="([^"]+)"/.exec(request)![1]);
    expect(answer.root.getAttribute('Destination')).toBe(idpLogoutUrl(corp));
    expect(answer.xml).toContain('urn:oasis:names:tc:SAML:2.0:status:Success');
    expect(answer.relayState).toBe('idp-state-1');
    const events = await auditSince(before);
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) expect([e.type, e.outcome, e.data?.initiatedBy, e.data?.idp]).toEqual(['auth.logout', 'SUCCESS', 'idp', 'corp']);
  });

  it('via HTTP-Redirect signed with ECDSA-SHA256 by an EC key (the signature r||s, as XML-DSig has it): ends the sessions', async () => {
    await signInAlice();
    const res = await slo(redirectQuery(logoutRequestXml(corp), corpEc, { sigAlg: 'ecdsa-sha256' }));
    expect(res.status).toBe(302);
    expect(await liveSessions()).toEqual([]);
    expect(readSignedRedirect(res.headers.get('location')!, sp.cert).root.localName).toBe('LogoutResponse');
  });

  it('via HTTP-POST naming a SessionIndex: ends only that session, and answers with a signed LogoutResponse posted to the IdP', async () => {
    const kept = await signInAlice();
    const ended = await signInAlice();
    const others = await liveSessions();
    const res = await sloPost(signedPostForm(logoutRequestXml(corp, { sessionIndexes: [ended.sessionIndex] }), corp.key, 'idp-state-2'));
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(res.headers.get('content-security-policy')).toContain(`form-action 'self' ${new URL(idpLogoutUrl(corp)).origin}`);
    const answer = readSignedPostPage(page, sp.cert);
    expect(answer.action).toBe(idpLogoutUrl(corp));
    expect(answer.root.localName).toBe('LogoutResponse');
    expect(answer.relayState).toBe('idp-state-2');
    expect((await liveSessions()).length).toBe(others.length - 1);
    expect((await logout(kept.cookie)).status).toBe(200);
    expect(await server.stores.sessions.listByUser(ALICE_ID)).toEqual([]);
  });

  it('via HTTP-POST starting with an XML declaration (as many IdPs send it): ends the sessions', async () => {
    await signInAlice();
    const res = await sloPost(withXml(signedPostForm(logoutRequestXml(corp), corp.key), (xml) => `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`));
    expect(res.status).toBe(200);
    expect(await liveSessions()).toEqual([]);
  });

  it('ends the OAuth authorizations of the sessions it ends', async () => {
    const browser = new TestBrowser(server.url, corp);
    const tokens = await connectWithSdk(server.url, browser, new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA), resourceUrl('a'));
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    expect((await slo(redirectQuery(logoutRequestXml(corp), corp.key))).status).toBe(302);
    expect(await mcpRefusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
  });
});

describe('LogoutRequests that end nothing', () => {
  const other = { id: '', key: null as unknown as KeyPair };
  beforeAll(async () => {
    other.key = await selfSignedCertificate('another-idp');
  });
  const bomb = () => deflateRawSync(Buffer.alloc(5 * 1024 * 1024, 0x20));

  const cases: [string, RefusalCode, () => Promise<Response>][] = [
    ['an unsigned Redirect', 'unsigned', () => slo(redirectQuery(logoutRequestXml(corp), null))],
    ['an unsigned POST', 'unsigned', () => sloPost(signedPostForm(logoutRequestXml(corp), null))],
    ['a Redirect signed by another key', 'signature_invalid', () => slo(redirectQuery(logoutRequestXml(corp), { privateKey: other.key.privateKey }))],
    ['a POST signed by another key', 'signature_invalid', () => sloPost(signedPostForm(logoutRequestXml(corp), { privateKey: other.key.privateKey, cert: other.key.cert }))],
    ['a POST whose NameID was changed after signing', 'signature_invalid', () => sloPost(tamperedPost())],
    ["one for another SP's Destination", 'destination_mismatch', () => slo(redirectQuery(logoutRequestXml(corp, { destination: 'https://other-sp.example.com/slo' }), corp.key))],
    ['one from another issuer', 'issuer_mismatch', () => slo(redirectQuery(logoutRequestXml(corp, { issuer: 'https://evil.example/idp' }), corp.key))],
    ['one issued 10 minutes ago', 'expired', () => slo(redirectQuery(logoutRequestXml(corp, { issueInstant: new Date(Date.now() - 10 * 60_000) }), corp.key))],
    ['one past its NotOnOrAfter', 'expired', () => sloPost(signedPostForm(logoutRequestXml(corp, { notOnOrAfter: new Date(Date.now() - 2 * 60_000) }), corp.key))],
    ['a POST with a processing instruction after its XML declaration', 'xml_processing_instruction', () => sloPost(withXml(signedPostForm(logoutRequestXml(corp), corp.key), (xml) => `<?xml version="1.0"?><?evil x?>${xml}`))],
    ['an oversized POST', 'message_too_large', () => sloPost(new URLSearchParams({ SAMLRequest: Buffer.alloc(40 * 1024, 0x41).toString('base64') }))],
    ['a signed deflate bomb (5 MiB of spaces in a few kilobytes)', 'message_too_large', () => slo(redirectQuery(logoutRequestXml(corp), corp.key, { deflated: bomb() }))],
  ];

  function tamperedPost(): URLSearchParams {
    const form = signedPostForm(logoutRequestXml(corp, { nameId: 'bob@example.com' }), corp.key);
    const xml = Buffer.from(form.get('SAMLRequest')!, 'base64').toString('utf8').replace('bob@example.com', 'alice@example.com');
    return new URLSearchParams({ SAMLRequest: Buffer.from(xml).toString('base64') });
  }

  for (const [what, code, send] of cases) {
    it(`refuses ${what} (${code}), audits it, and ends no session`, async () => {
      await signInAlice();
      const sessions = await liveSessions();
      const before = await auditLength();
      const res = await send();
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(`<code>${code}</code>`);
      expect(await liveSessions()).toEqual(sessions);
      expect((await auditSince(before)).map((e) => [e.type, e.outcome, e.data])).toEqual([['auth.logout', 'DENIED', { idp: 'corp', reason: code, clientAddress: '127.0.0.1' }]]);
    });
  }

  it("tells the administrator our Single Logout URL when a LogoutRequest is addressed elsewhere, and echoes nothing of the message", async () => {
    const res = await slo(redirectQuery(logoutRequestXml(corp, { destination: 'https://other-sp.example.com/slo', nameId: '&lt;script&gt;x&lt;/script&gt;' }), corp.key));
    const page = await res.text();
    expect(page).toContain(`set its SP Single Logout URL to ${spLogoutUrl(corp)}`);
    expect(page).not.toContain('other-sp.example.com');
    expect(page).not.toContain('<script');
  });

  it('refuses the same signed LogoutRequest a second time (replay): the sessions made since stay', async () => {
    const query = redirectQuery(logoutRequestXml(corp), corp.key);
    expect((await slo(query)).status).toBe(302);
    await signInAlice();
    const sessions = await liveSessions();
    const again = await slo(query);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('<code>replay</code>');
    expect(await liveSessions()).toEqual(sessions);
  });

  it('is not offered for an IdP without singleLogoutUrl (404)', async () => {
    const plain = await createTestIdp('plain');
    const noSlo = await startTestServer({ config: oauthConfig(plain) });
    try {
      expect((await fetch(`${noSlo.url}/auth/saml/plain/slo?${redirectQuery(logoutRequestXml(plain), plain.key)}`)).status).toBe(404);
      const cookie = (await postToAcs(noSlo.url, 'plain', plain.signedResponse({ inResponseTo: (await startLogin(noSlo.url, 'plain')).requestId }))).cookie!;
      expect((await fetch(`${noSlo.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: ORIGIN, accept: 'application/json' } })).status).toBe(204);
    } finally {
      await noSlo.close();
    }
  });
});

/** `form` with its SAMLRequest's XML changed by `edit`. */
function withXml(form: URLSearchParams, edit: (xml: string) => string): URLSearchParams {
  return new URLSearchParams({ ...Object.fromEntries(form), SAMLRequest: Buffer.from(edit(Buffer.from(form.get('SAMLRequest')!, 'base64').toString('utf8'))).toString('base64') });
}
