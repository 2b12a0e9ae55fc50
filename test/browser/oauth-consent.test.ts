import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumForFile, describeInBrowser, scanAccessibility, screenshot, signInAtTestIdp, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';
import { DCR_METADATA, MemoryOAuthProvider } from '../support/oauth-client.js';

const chromium = chromiumForFile();

/** An MCP client's loopback redirect listener (RFC 8252 §7.3): it only has to answer the browser. */
async function redirectListener(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('Signed in: you can close this tab.'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describeInBrowser('the OAuth consent page in a real browser', () => {
  let broker: BrowserBroker;
  let listener: Awaited<ReturnType<typeof redirectListener>>;
  beforeAll(async () => {
    [broker, listener] = await Promise.all([startBrowserBroker(), redirectListener()]);
  });
  afterAll(() => Promise.all([broker.close(), listener.close()]));

  /** The MCP SDK's own flow: discovery, registration, then the browser leg as Alice (with `atConsent` run on the consent page), and the code exchange. */
  async function connectInBrowser(page: Page, provider: MemoryOAuthProvider, resource: string, atConsent: () => Promise<void> = async () => {}): Promise<OAuthTokens> {
    expect(await auth(provider, { serverUrl: resource })).toBe('REDIRECT');
    await page.goto(provider.authorizationUrl!.href);
    await signInAtTestIdp(page, broker.url, 'alice');
    await atConsent();
    await page.getByRole('button', { name: 'Allow' }).click();
    // Through our form post and its redirect (allowed by the page's form-action) to the client.
    await page.waitForURL((url) => url.href.startsWith(`${listener.url}?`));
    const code = new URL(page.url()).searchParams.get('code');
    expect(code).toBeTruthy();
    expect(await auth(provider, { serverUrl: resource, authorizationCode: code! })).toBe('AUTHORIZED');
    return provider.saved!;
  }

  it('after sign-in, names the application, where it sends you and the MCP endpoint; Allow returns a code the client exchanges for a token', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      const resource = `${broker.url}/mcp/everything`;
      const provider = new MemoryOAuthProvider(listener.url, { ...DCR_METADATA, redirect_uris: [listener.url] });
      const tokens = await connectInBrowser(page, provider, resource, async () => {
        expect(new URL(page.url()).pathname).toBe('/oauth/authorize');
        const text = await page.locator('body').innerText();
        for (const shown of [DCR_METADATA.client_name!, provider.info!.client_id, listener.url, resource, 'alice@example.com']) expect(text).toContain(shown);
        await scanAccessibility(page, 'OAuth consent');
        await screenshot(page, 'oauth-consent');
      });
      expect(tokens).toMatchObject({ access_token: expect.any(String), scope: 'mcp' });
      problems.expectNone();
    }));

  it("lists the connected client on the API tokens page, and revoking it there gets the client's token refused at /mcp", () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      const resource = `${broker.url}/mcp/everything`;
      const provider = new MemoryOAuthProvider(listener.url, { ...DCR_METADATA, client_name: 'Console test client', redirect_uris: [listener.url] });
      const tokens = await connectInBrowser(page, provider, resource);
      const atMcp = async () => (await mcpFetch(resource, INITIALIZE, { token: tokens.access_token, accept: 'application/json' })).status;
      expect(await atMcp()).not.toBe(401);

      await page.goto(`${broker.url}/tokens`);
      await page.getByRole('heading', { level: 2, name: 'Connected MCP clients' }).waitFor();
      const row = page.getByRole('table', { name: 'MCP clients you connected by OAuth' }).getByRole('row').filter({ hasText: provider.info!.client_id });
      await row.waitFor();
      const text = await row.innerText();
      for (const shown of ['Console test client', resource]) expect(text).toContain(shown);
      await scanAccessibility(page, 'API tokens with a connected MCP client');
      await screenshot(page, 'tokens-connected-clients');

      await row.getByRole('button', { name: 'Revoke Console test client' }).click();
      const dialog = page.getByRole('dialog', { name: 'Disconnect “Console test client”' });
      await dialog.waitFor();
      await scanAccessibility(page, 'disconnect an MCP client');
      await dialog.getByRole('button', { name: 'Revoke access' }).click();
      await page.getByText('“Console test client” was disconnected.').waitFor();
      await row.waitFor({ state: 'detached' });
      expect(await atMcp()).toBe(401);
      problems.expectNone();
    }));
});
