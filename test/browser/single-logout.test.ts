import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumForFile, describeInBrowser, graphqlFromPage, signInInBrowser, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { selfSignedCertificate } from '../support/certificates.js';

const chromium = chromiumForFile();

describeInBrowser('SAML Single Logout from the console in a real browser', () => {
  let broker: BrowserBroker;
  beforeAll(async () => {
    const sp = await selfSignedCertificate('portcullis-sp');
    broker = await startBrowserBroker({
      idps: [{ id: 'corp', singleLogout: { spCert: sp.cert } }],
      overrides: { saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } } },
    });
  });
  afterAll(() => broker.close());

  it("Sign out goes through the IdP's Single Logout (a LogoutRequest signed by our key) and lands on the sign-in page, signed out", () =>
    withPage(chromium.browser, async ({ context, page, problems }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL((url) => url.origin === broker.url && url.pathname === '/signin');
      const [request] = broker.pages[0]!.logoutRequests;
      expect(broker.pages[0]!.logoutRequests).toHaveLength(1);
      expect(request!.getElementsByTagName('saml:NameID')[0]?.textContent).toBe('alice@example.com');
      expect(await context.cookies(broker.url)).toEqual([]);
      // The sign-in page allows no fetch (its CSP): ask from a page that does.
      await page.goto(`${broker.url}/healthz`);
      const { body } = await graphqlFromPage(page, '{ me { email } }');
      expect(body).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
      problems.expectNone();
    }));
});
