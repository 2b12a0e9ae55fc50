import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { chromiumForFile, describeInBrowser, scanAccessibility, screenshot, signInAtTestIdp, withPage } from '../support/browser.js';
import { BROWSER_USERS, startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';

const chromium = chromiumForFile();

/** Two IdPs, as a company with a partner's IdP beside its own: each vouches for its domain. */
const IDPS = [
  { id: 'corp', emailDomains: ['example.com'], users: BROWSER_USERS },
  { id: 'partner', emailDomains: ['partner.example'], users: [{ label: 'pat', email: 'pat@partner.example', displayName: 'Pat Partner', groups: ['engineering'] }] },
];

/** The sign-in links on the page: which IdP each starts, where it returns to, and its text. */
async function signInLinks(page: Page): Promise<{ idp: string; returnTo: string | null; text: string }[]> {
  const links = await page.locator('a[href*="/auth/saml/"]').all();
  return Promise.all(
    links.map(async (link) => {
      const href = new URL((await link.getAttribute('href'))!, page.url());
      return { idp: /^\/auth\/saml\/([^/]+)\/login$/.exec(href.pathname)?.[1] ?? href.pathname, returnTo: href.searchParams.get('returnTo'), text: await link.innerText() };
    }),
  );
}

// Needs the lead's console routes (server/http/console-routes.ts): /signin and the console's
// page routes answering a signed-out browser with the sign-in page.
describeInBrowser('the sign-in page for a signed-out browser', () => {
  let broker: BrowserBroker;
  beforeAll(async () => {
    broker = await startBrowserBroker({ idps: IDPS });
  });
  afterAll(() => broker.close());

  it('/signin?returnTo=/audit lists one link per configured IdP, passes the accessibility scan, and signs in back to /audit', () =>
    withPage(chromium.browser, async ({ context, page, problems }) => {
      await page.goto(`${broker.url}/signin?returnTo=%2Faudit`);
      const links = await signInLinks(page);
      expect(links.map(({ idp, returnTo }) => ({ idp, returnTo }))).toEqual([
        { idp: 'corp', returnTo: '/audit' },
        { idp: 'partner', returnTo: '/audit' },
      ]);
      // Each names its IdP as the config does, so people pick theirs by name.
      expect(links.map((l) => l.text)).toEqual([expect.stringContaining('corp SSO'), expect.stringContaining('partner SSO')]);
      await scanAccessibility(page, 'sign-in');
      await screenshot(page, 'sign-in');
      // The strict console CSP (no inline script or style) holds on this page too.
      problems.expectNone();

      await page.locator('a[href*="/auth/saml/partner/login"]').click();
      await signInAtTestIdp(page, broker.url, 'pat');
      expect(new URL(page.url()).pathname).toBe('/audit');
      expect(await context.cookies(broker.url)).toEqual([expect.objectContaining({ name: 'portcullis_session' })]);
    }));

  it('a console page asked for while signed out offers the same sign-in, returning to that page and its query', () =>
    withPage(chromium.browser, async ({ page }) => {
      await page.goto(`${broker.url}/audit?outcome=DENIED`);
      expect((await signInLinks(page)).map(({ idp, returnTo }) => ({ idp, returnTo }))).toEqual([
        { idp: 'corp', returnTo: '/audit?outcome=DENIED' },
        { idp: 'partner', returnTo: '/audit?outcome=DENIED' },
      ]);
    }));
});
