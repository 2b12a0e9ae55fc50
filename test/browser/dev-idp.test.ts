import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chromiumForFile, describeInBrowser, graphqlFromPage, scanAccessibility, screenshot, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';

const chromium = chromiumForFile();

/** The demo's own development IdP users and roles (infra/demo/portcullis.yaml, what `npm start` serves). */
const demo = parse(readFileSync('infra/demo/portcullis.yaml', 'utf8')) as { devIdp: { users: { email: string; displayName: string }[] }; roles: unknown };

describeInBrowser('the development IdP page in a real browser (the demo config)', () => {
  let broker: BrowserBroker;
  beforeAll(async () => {
    broker = await startBrowserBroker({ idps: [], overrides: { devIdp: demo.devIdp, roles: demo.roles } });
  });
  afterAll(() => broker.close());

  it('lists each demo user as a button, passes the accessibility scan, and signs in the one chosen', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      await page.goto(`${broker.url}/auth/saml/dev/login?returnTo=%2Fhealthz`);
      expect(new URL(page.url()).pathname).toBe('/dev-idp/sso');
      // One button per demo user, naming them and their address.
      const buttons = page.getByRole('button');
      expect(await buttons.count()).toBe(demo.devIdp.users.length);
      for (const user of demo.devIdp.users) expect(await buttons.filter({ hasText: user.displayName }).filter({ hasText: user.email }).count()).toBe(1);
      await scanAccessibility(page, 'development IdP');
      await screenshot(page, 'dev-idp');

      await buttons.filter({ hasText: 'Carol' }).click();
      // Through the auto-posted form (a nonce'd script under the page's CSP) to the ACS and back.
      await page.waitForURL(`${broker.url}/healthz`);
      expect(await graphqlFromPage(page, '{ me { id email roles } }')).toEqual({
        status: 200,
        body: { data: { me: { id: 'dev:carol', email: 'carol@example.com', roles: ['security-auditor'] } } },
      });
      problems.expectNone();
    }));
});
