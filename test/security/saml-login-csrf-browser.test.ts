import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeForPost } from '../../server/dev-idp/saml-response.js';
import { html } from '../../server/http/html-page.js';
import { chromiumForFile, describeInBrowser, graphqlFromPage, signInAtTestIdp, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { startLogin } from '../support/test-idp.js';

const chromium = chromiumForFile();
const ME = '{ me { email } }';

/** The broker's login start in `page`, left on the test IdP's page (the request pending); returns that page's URL. */
async function beginAtIdp(page: Page, broker: BrowserBroker): Promise<URL> {
  await page.goto(`${broker.url}/auth/saml/corp/login?returnTo=%2Fhealthz`);
  await page.waitForURL((url) => url.pathname === '/sso');
  return new URL(page.url());
}

describeInBrowser('SAML login CSRF in a real browser', () => {
  let broker: BrowserBroker;
  let attacker: Server;
  /** A page on another site (localhost, while the broker is 127.0.0.1) that auto-posts whatever response it is given. */
  let attackerUrl: string;
  let planted = '';
  beforeAll(async () => {
    broker = await startBrowserBroker();
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form id="f" method="post" action="${html(broker.idps[0]!.acsUrl)}"><input type="hidden" name="SAMLResponse" value="${html(planted)}"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await broker.close();
    await new Promise((resolve) => attacker.close(resolve));
  });

  it("a page elsewhere posting someone else's response leaves the browser signed out (browser_mismatch)", async () => {
    const { requestId } = await startLogin(broker.url, 'corp');
    planted = encodeForPost(broker.idps[0]!.signedResponse({ inResponseTo: requestId, nameId: 'mallory@example.com', attributes: { email: 'mallory@example.com' } }));
    await withPage(chromium.browser, async ({ context, page }) => {
      await page.goto(attackerUrl);
      await page.waitForURL((url) => url.pathname === '/auth/saml/corp/acs');
      expect(await page.locator('code').innerText()).toBe('browser_mismatch');
      expect((await context.cookies(broker.url)).map((c) => c.name)).not.toContain('portcullis_session');
      await page.goto(`${broker.url}/healthz`);
      expect((await graphqlFromPage(page, ME)).body).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    });
  });

  it('signs in through an IdP on another site: the binding cookie rides its cross-site post, then is cleared', () =>
    withPage(chromium.browser, async ({ context, page }) => {
      const idpPage = await beginAtIdp(page, broker);
      idpPage.hostname = 'localhost';
      await page.goto(idpPage.href);
      const acsPost = page.waitForRequest((request) => request.url().endsWith('/acs'));
      await signInAtTestIdp(page, broker.url, 'alice');
      expect((await (await acsPost).allHeaders())['sec-fetch-site']).toBe('cross-site');
      expect(new URL(page.url()).pathname).toBe('/healthz');
      expect((await context.cookies(broker.url)).map((c) => c.name)).toEqual(['portcullis_session']);
    }));

  it('signs in two tabs of one browser begun side by side', () =>
    withPage(chromium.browser, async ({ context, page }) => {
      const second = await context.newPage();
      await beginAtIdp(page, broker);
      await beginAtIdp(second, broker);
      await signInAtTestIdp(page, broker.url, 'alice');
      await signInAtTestIdp(second, broker.url, 'alice');
      expect([new URL(page.url()).pathname, new URL(second.url()).pathname]).toEqual(['/healthz', '/healthz']);
      expect((await graphqlFromPage(second, ME)).body).toEqual({ data: { me: { email: 'alice@example.com' } } });
      expect((await context.cookies(broker.url)).map((c) => c.name)).toEqual(['portcullis_session']);
    }));
});
