import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  bearer,
  connectWithSdk,
  MemoryOAuthProvider,
  mcpIdentity,
  oauthBrokerForSuite,
  oauthConfig,
  pkcePair,
  postForm,
  registerClient,
  resourceUrl,
  TestBrowser,
} from '../support/oauth-client.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** Serves one JSON document on loopback, as a client's metadata host would over https. */
async function serveDocument(path: string, document: (url: string) => unknown): Promise<{ url: string; server: Server }> {
  let url = '';
  const server = createServer((req, res) => {
    if (req.url !== path) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document(url)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return { url, server };
}

describe('known MCP client quirks, handled on purpose', () => {
  const broker = oauthBrokerForSuite((config) => startTestServer({ config }));
  let idp: TestIdp;
  let server: TestServer;
  let config: PortcullisConfig;
  beforeAll(() => ({ idp, server, config } = broker));

  /** A manual authorization and code exchange for a registered client; returns the token response. */
  async function authorizeByHand(clientId: string, redirectUri: string, resource: string | undefined) {
    const pkce = pkcePair();
    const browser = new TestBrowser(server.url, idp);
    const callback = await browser.approve(authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, code_challenge: pkce.challenge, code_challenge_method: 'S256', resource }));
    expect(callback.origin + callback.pathname).toBe(new URL(redirectUri).origin + new URL(redirectUri).pathname);
    return postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, code_verifier: pkce.verifier, client_id: clientId, redirect_uri: redirectUri });
  }

  it("Claude Code: a URL client id whose metadata document lists loopback redirects without a port, used with whatever port is free", async () => {
    const document = await serveDocument('/oauth/claude-code-client-metadata', (url) => ({
      client_id: url,
      client_name: 'Claude Code',
      client_uri: 'https://claude.ai',
      redirect_uris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }));
    try {
      // The SDK takes a URL client id as it is (its own CIMD branch insists on https; the
      // broker allows http here only because this config is in development mode).
      const provider = new MemoryOAuthProvider('http://localhost:53123/callback', { client_name: 'Claude Code', redirect_uris: ['http://localhost/callback'] }, { client_id: document.url });
      const tokens = await connectWithSdk(server.url, new TestBrowser(server.url, idp), provider, resourceUrl('a'));
      const principal = await mcpIdentity(config, server.stores).mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined);
      expect(principal.credential).toMatchObject({ kind: 'oauth', client: { id: document.url, name: 'Claude Code' } });
    } finally {
      document.server.close();
    }
  });

  it("VS Code: its fixed loopback port, and any other port when that one is taken; its web redirect is left out", async () => {
    const registered = await registerClient(server.url, { client_name: 'Visual Studio Code', redirect_uris: ['http://127.0.0.1:33418', 'https://vscode.dev/redirect'], token_endpoint_auth_method: 'none' });
    expect(registered).toMatchObject({ status: 201, body: { redirect_uris: ['http://127.0.0.1:33418'], token_endpoint_auth_method: 'none' } });
    const clientId = registered.body.client_id as string;
    expect(await authorizeByHand(clientId, 'http://127.0.0.1:33418/', resourceUrl('a'))).toMatchObject({ status: 200 });
    expect(await authorizeByHand(clientId, 'http://127.0.0.1:51234/', resourceUrl('a'))).toMatchObject({ status: 200 });
  });

  it("Cursor: a custom-scheme redirect registered by DCR gets the code, and the consent page's CSP lets the form reach it", async () => {
    const redirect = 'cursor://anysphere.cursor-retrieval/oauth/user-7c1e/callback';
    const provider = new MemoryOAuthProvider(redirect, { client_name: 'Cursor', redirect_uris: [redirect], token_endpoint_auth_method: 'none' });
    const browser = new TestBrowser(server.url, idp);
    const tokens = await connectWithSdk(server.url, browser, provider, resourceUrl('b'));
    expect((await mcpIdentity(config, server.stores).mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('b'), undefined)).credential).toMatchObject({ client: { name: 'Cursor' } });
    const pkce = pkcePair();
    const opened = await new TestBrowser(server.url, idp).open(authorizeUrl({ response_type: 'code', client_id: provider.info!.client_id, redirect_uri: redirect, code_challenge: pkce.challenge, code_challenge_method: 'S256', resource: resourceUrl('a') }));
    expect('consent' in opened && opened.consent.csp).toContain("form-action 'self' cursor:");
  });

  it('a client that omits resource gets the federated endpoint, whose token also counts at each server\'s (never the other way round); a trailing slash names the same resource', async () => {
    const clientId = (await registerClient(server.url, { client_name: 'Old client', redirect_uris: ['http://127.0.0.1:47010/cb'] })).body.client_id as string;
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    const federated = await authorizeByHand(clientId, 'http://127.0.0.1:47010/cb', undefined);
    await mcpAuthenticator.authenticate(bearer(federated.body.access_token as string), resourceUrl(), undefined);
    // The endpoint such a client was sent from may be a server's own: /mcp reaches that server anyway.
    expect((await mcpAuthenticator.authenticate(bearer(federated.body.access_token as string), resourceUrl('a'), undefined)).user.email).toBe('alice@example.com');
    await expect(mcpAuthenticator.authenticate(bearer(federated.body.access_token as string), `${resourceUrl('a')}x`, undefined)).rejects.toMatchObject({ status: 401 });
    const slashed = await authorizeByHand(clientId, 'http://127.0.0.1:47010/cb', `${resourceUrl('a')}/`);
    await mcpAuthenticator.authenticate(bearer(slashed.body.access_token as string), resourceUrl('a'), undefined);
  });

  it("Claude's hosted callback: refused unless the operator enables oauth.allowClaudeHostedCallback", async () => {
    const hosted = { client_name: 'Claude', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'] };
    expect(await registerClient(server.url, hosted)).toMatchObject({ status: 400, body: { error: 'invalid_redirect_uri' } });
    const enabled = await startTestServer({ config: oauthConfig(idp, { allowClaudeHostedCallback: true }) });
    try {
      const registered = await registerClient(enabled.url, hosted);
      expect(registered).toMatchObject({ status: 201, body: { redirect_uris: hosted.redirect_uris } });
      const pkce = pkcePair();
      const browser = new TestBrowser(enabled.url, idp);
      const url = authorizeUrl({ response_type: 'code', client_id: registered.body.client_id as string, redirect_uri: hosted.redirect_uris[0], code_challenge: pkce.challenge, code_challenge_method: 'S256', resource: resourceUrl('a') });
      const callback = await browser.approve(url);
      expect(callback.origin).toBe('https://claude.ai');
      expect(callback.searchParams.get('code')).toBeTruthy();
      // An https redirect is its origin's alone: the remembered consent skips the page.
      const again = await browser.open(url);
      expect('redirect' in again && again.redirect.origin).toBe('https://claude.ai');
    } finally {
      await enabled.close();
    }
  });
});
