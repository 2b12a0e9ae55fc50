import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumForFile, describeInBrowser, graphqlFromPage, signInInBrowser, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { describeOnEachStore } from '../support/each-store.js';

const chromium = chromiumForFile();
const ME = '{ me { email groups roles } }';

describeInBrowser('SAML sign-in in a real browser', () => {
  describeOnEachStore('through the test IdP login page', (start) => {
    let broker: BrowserBroker;
    beforeAll(async () => {
      broker = await startBrowserBroker({ start });
    });
    afterAll(() => broker.close());

    it('ends signed in: an HttpOnly SameSite=Lax session cookie, and the page’s own fetch of /graphql answers me', () =>
      withPage(chromium.browser, async ({ context, page, problems }) => {
        await signInInBrowser(page, broker.url, 'corp', 'alice', '/healthz');
        expect(await context.cookies(broker.url)).toEqual([expect.objectContaining({ name: 'portcullis_session', httpOnly: true, sameSite: 'Lax', path: '/', secure: false })]);
        // HttpOnly: the page's scripts never see the session.
        expect(await page.evaluate('document.cookie')).toBe('');
        expect(await graphqlFromPage(page, ME)).toEqual({ status: 200, body: { data: { me: { email: 'alice@example.com', groups: ['engineering'], roles: ['engineer'] } } } });
        problems.expectNone();
      }));

    it('keeps people apart: each browser context signs in its own person', () =>
      Promise.all(
        [
          ['alice', { email: 'alice@example.com', groups: ['engineering'], roles: ['engineer'] }],
          ['bob', { email: 'bob@example.com', groups: ['sre'], roles: ['lead'] }],
          ['carol', { email: 'carol@example.com', groups: ['security'], roles: ['auditor'] }],
        ].map(([label, me]) =>
          withPage(chromium.browser, async ({ page, problems }) => {
            await signInInBrowser(page, broker.url, 'corp', label as string, '/healthz');
            expect(await graphqlFromPage(page, ME)).toEqual({ status: 200, body: { data: { me } } });
            problems.expectNone();
          }),
        ),
      ));

    it('a browser that never signed in is not answered as anyone', () =>
      withPage(chromium.browser, async ({ page }) => {
        await page.goto(`${broker.url}/healthz`);
        const { body } = await graphqlFromPage(page, ME);
        expect(body).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
      }));
  });
});
