import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OAuthClientRecord } from '../../server/oauth/types.js';
import { auditChain, authorizeUrl, oauthBrokerForSuite, oauthConfig, pkcePair, postForm, registerClient, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** Redirects whose handler is a browser or a program that opens the page they name: the code would reach attacker.example. */
const LAUNCHERS = [
  'microsoft-edge:https://attacker.example/cb',
  'microsoft-edge-https://attacker.example/cb',
  'x-safari-https://attacker.example/cb',
  'googlechrome://attacker.example/cb',
  'googlechromes://attacker.example/cb',
  'firefox://open-url?url=https://attacker.example/cb',
  'opera-https://attacker.example/cb',
  'brave://open-url?url=https%3A%2F%2Fattacker.example%2Fcb',
  'ms-word:ofe|u|https://attacker.example/cb.docx',
  'ms-appinstaller:?source=https://attacker.example/app.msix',
  'web+foo://attacker.example/cb',
  'ext+foo:attacker.example/cb',
  'intent://attacker.example/cb',
  'android-app://com.android.chrome/https/attacker.example/cb',
  'webcal://attacker.example/cb',
  'feed:https://attacker.example/cb',
  'jnlp://attacker.example/app.jnlp',
  'steam://openurl/https://attacker.example/cb',
  'search-ms:query=cb',
  'view-source:https://attacker.example/cb',
  'vbscript:msgbox(1)',
  'blob:https://attacker.example/cb',
  'wss://attacker.example/cb',
  'ftp://attacker.example/cb',
  'mailto:cb@attacker.example',
  'tel:+15550100',
  'sms:+15550100',
];

/** Private-use URIs of app-like schemes that still carry an address a handler could open, or hide text from the consent page. */
const SMUGGLED = [
  'com.example.app:/cb?next=https://attacker.example/cb',
  'cursor://anysphere.cursor-mcp/oauth/callback?u=https%3A%2F%2Fattacker.example',
  'com.example.app://https%253A%252F%252Fattacker.example/cb',
  'ms-word.example.com:/cb',
  'com.example.app+https://attacker.example/cb',
  'cursor://anysphere.cursor-mcp/oauth/callback\u202e',
  'cur\tsor://anysphere.cursor-mcp/oauth/callback',
];

/** Real native MCP clients' redirects: Cursor (now and before), Cline in each VS Code-family editor, Warp, and an RFC 8252 reverse domain name. */
const APP_CALLBACKS = [
  'cursor://anysphere.cursor-mcp/oauth/callback',
  'cursor://anysphere.cursor-retrieval/oauth/user-7c1e/callback',
  'vscode://saoudrizwan.claude-dev/mcp-auth/callback/3f2a9c',
  'vscode-insiders://saoudrizwan.claude-dev/mcp-auth/callback/3f2a9c',
  'windsurf://saoudrizwan.claude-dev/mcp-auth/callback/3f2a9c',
  'vscodium://saoudrizwan.claude-dev/mcp-auth/callback/3f2a9c',
  'kiro://saoudrizwan.claude-dev/mcp-auth/callback/3f2a9c',
  'warp://mcp/oauth2callback',
  'com.example.mcp-client:/oauth2redirect',
];

describe('redirect URI schemes: only a native app gets the code (RFC 8252 §7.1)', () => {
  const broker = oauthBrokerForSuite((config) => startTestServer({ config }));
  let idp: TestIdp;
  let server: TestServer;
  beforeAll(() => ({ idp, server } = broker));

  const authorize = (clientId: string, redirectUri: string) =>
    authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256', resource: resourceUrl('a') });

  it('refuses to register a scheme whose handler is a browser or a program that opens what the URI names', async () => {
    for (const uri of LAUNCHERS) {
      expect({ uri, answer: await registerClient(server.url, { client_name: 'Launcher', redirect_uris: [uri] }) }).toMatchObject({ uri, answer: { status: 400, body: { error: 'invalid_redirect_uri' } } });
    }
  });

  it('refuses a private-use URI that carries another address past its scheme, or characters the consent page would show differently', async () => {
    for (const uri of SMUGGLED) {
      expect({ uri, answer: await registerClient(server.url, { client_name: 'Smuggler', redirect_uris: [uri] }) }).toMatchObject({ uri, answer: { status: 400, body: { error: 'invalid_redirect_uri' } } });
    }
  });

  it("accepts reverse domain name schemes and the VS Code family's, and no other bare word", async () => {
    for (const uri of APP_CALLBACKS) expect(await registerClient(server.url, { client_name: 'App', redirect_uris: [uri] })).toMatchObject({ status: 201, body: { redirect_uris: [uri] } });
    expect(await registerClient(server.url, { client_name: 'Grok Bot', redirect_uris: ['grokbot://mcp/oauth/callback'] })).toMatchObject({ status: 400, body: { error: 'invalid_redirect_uri' } });
    // Cursor's whole registration today: its app and loopback callbacks are kept, the web one left out.
    const cursor = ['cursor://anysphere.cursor-mcp/oauth/callback', 'https://www.cursor.com/agents/mcp/oauth/callback', 'http://localhost:8787/callback'];
    expect(await registerClient(server.url, { client_name: 'Cursor', redirect_uris: cursor })).toMatchObject({ status: 201, body: { redirect_uris: [cursor[0], cursor[2]] } });
  });

  it('holds a client registered before these rules to them: a now-refused redirect URI gets an error page at authorize and at consent, never the code', async () => {
    const clientId = `pcc_${randomBytes(16).toString('base64url')}`;
    const record: OAuthClientRecord = {
      clientId,
      clientName: 'Cursor\u202e (official)',
      redirectUris: ['microsoft-edge:https://attacker.example/cb', 'http://127.0.0.1:47020/cb'],
      registration: 'dcr',
      createdAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    };
    await server.stores.oauth.clients.put(clientId, record);
    const browser = new TestBrowser(server.url, idp);
    expect(await browser.open(authorize(clientId, 'microsoft-edge:https://attacker.example/cb'))).toMatchObject({ status: 400, text: expect.stringContaining('not registered') });
    const fields = Object.fromEntries(new URL(authorize(clientId, 'microsoft-edge:https://attacker.example/cb')).searchParams);
    const allowed = await browser.decide({ fields, text: '', csp: '' }, 'allow');
    expect({ status: allowed.status, location: allowed.headers.get('location') }).toEqual({ status: 400, location: null });
    // Its loopback redirect still works, and its name is shown as today's rules show it.
    const consent = await browser.open(authorize(clientId, 'http://127.0.0.1:47020/cb'));
    expect('consent' in consent && consent.consent.text).toContain('<strong>Cursor (official)</strong>');
  });

  it('keeps the stored registration as it was when a client is used: a redirect URI refused today is hidden, not deleted', async () => {
    const clientId = `pcc_${randomBytes(16).toString('base64url')}`;
    const loopback = 'http://127.0.0.1:47022/cb';
    // An origin of a scheme the operator may list again (oauth.redirectSchemes), and a day old: the exchange extends it.
    const record: OAuthClientRecord = { clientId, clientName: 'Grok Bot', redirectUris: ['grokbot://mcp/oauth/callback', loopback], registration: 'dcr', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 };
    await server.stores.oauth.clients.put(clientId, record);
    const pkce = pkcePair();
    const url = authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: loopback, code_challenge: pkce.challenge, code_challenge_method: 'S256', resource: resourceUrl('a') });
    const code = (await new TestBrowser(server.url, idp).approve(url)).searchParams.get('code')!;
    const exchanged = await postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: loopback, client_id: clientId, code_verifier: pkce.verifier, resource: resourceUrl('a') });
    expect(exchanged).toMatchObject({ status: 200, body: { token_type: expect.stringMatching(/^bearer$/i) } });
    const stored = await server.stores.oauth.clients.get(clientId);
    expect(stored).toMatchObject({ redirectUris: record.redirectUris, clientName: 'Grok Bot' });
    expect(stored!.expiresAt).toBeGreaterThan(record.expiresAt + 86_400_000);
  });

  it('strips bidi controls, zero-width and other invisible characters from client names, in the answer and the audit log', async () => {
    const registered = await registerClient(server.url, { client_name: '\u2066Cursor\u202e (official)\u200b\u2069\u00ad\u3164', redirect_uris: ['http://127.0.0.1:47021/cb'] });
    expect(registered).toMatchObject({ status: 201, body: { client_name: 'Cursor (official)' } });
    const events = await auditChain(server.stores);
    expect(events.find((event) => event.type === 'oauth.client.registered' && event.data.clientId === registered.body.client_id)?.data.clientName).toBe('Cursor (official)');
    expect(await registerClient(server.url, { client_name: '\u202e\u200b\u2060', redirect_uris: ['http://127.0.0.1:47021/cb'] })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    // Cut at 100 characters, not through the middle of one.
    const long = await registerClient(server.url, { client_name: `${'a'.repeat(99)}\u{1F600}b`, redirect_uris: ['http://127.0.0.1:47021/cb'] });
    expect(long.body.client_name).toBe(`${'a'.repeat(99)}\u{1F600}`);
  });

  it('admits a scheme the operator lists in oauth.redirectSchemes, and never a launcher, whoever lists it', async () => {
    expect(() => oauthConfig(idp, { redirectSchemes: ['microsoft-edge'] })).toThrow(/launcher/);
    expect(() => oauthConfig(idp, { redirectSchemes: ['ms-word'] })).toThrow(/launcher/);
    expect(() => oauthConfig(idp, { redirectSchemes: ['web+foo'] })).toThrow(/URI scheme/);
    const configured = await startTestServer({ config: oauthConfig(idp, { redirectSchemes: ['GrokBot'] }) });
    try {
      const redirect = 'grokbot://mcp/oauth/callback';
      const registered = await registerClient(configured.url, { client_name: 'Grok Bot', redirect_uris: [redirect] });
      expect(registered).toMatchObject({ status: 201, body: { redirect_uris: [redirect] } });
      const callback = await new TestBrowser(configured.url, idp).approve(authorize(registered.body.client_id as string, redirect));
      expect(callback.protocol).toBe('grokbot:');
      expect(callback.searchParams.get('code')).toBeTruthy();
    } finally {
      await configured.close();
    }
  });
});
