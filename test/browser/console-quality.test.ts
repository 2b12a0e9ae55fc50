import type { Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { parseCredential } from '../../server/identity/credentials.js';
import { chromiumForFile, describeInBrowser, graphqlFromPage, scanAccessibility, screenshot, signInAtTestIdp, signInInBrowser, withPage } from '../support/browser.js';
import { startNotifyingBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';

const chromium = chromiumForFile();
/** Alice's pages (Bob's review queue is checked as Bob: Alice reviews nothing). */
const PAGES = ['/', '/requests', '/grants', '/audit', '/tokens', '/connect'];

/** Whether the page scrolls sideways (a table may scroll inside its own box; the page may not). */
function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

/** Tabs until `matches` holds for the focused element (or gives up), checking each focus is visible. */
async function tabTo(page: Page, name: RegExp, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const label = el.getAttribute('aria-label') ?? (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ?? el.textContent ?? '';
      return { label: label.trim(), outlined: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 };
    });
    if (!focused) continue;
    expect(focused.outlined, `focus on "${focused.label}" is visible`).toBe(true);
    if (name.test(focused.label)) return;
  }
  throw new Error(`no focusable element named ${name} within ${limit} tabs`);
}

describeInBrowser('the web console: keyboard, narrow windows, time zones, an ended sign-in', () => {
  let broker: BrowserBroker;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // Its receiver refuses every notification: Alice's request is a dead letter on Carol's Notifications page.
    ({ broker, close } = await startNotifyingBrowserBroker(() => 400));
  });
  afterAll(() => close());
  /** Alice's request is filed once, by whichever width runs first. */
  let filed = false;

  // 200 % zoom of a 1280 px window is a 640 CSS px viewport; 360 px is a small phone.
  // One test per width: each loads and scans eight pages, which on a loaded machine is most of a test's time.
  it.each([640, 360])('reads at %i px (200 %% zoom, a phone) without sideways scrolling, and passes the scan there', async (width) => {
    // Bob's queue holds one of Alice's requests, so the review card is on the page; Carol's dead letters hold its notification.
    for (const [person, paths] of [['alice', PAGES], ['bob', ['/review']], ['carol', ['/notifications']]] as const) {
      if (person === 'carol') await vi.waitFor(async () => expect((await broker.server.stores.notifications.entries()).some((e) => e.status === 'DEAD')).toBe(true), { timeout: 15_000 });
      await withPage(chromium.browser, async ({ page, problems }) => {
        await signInInBrowser(page, broker.url, 'corp', person, '/');
        if (person === 'alice' && !filed) {
          const answer = await graphqlFromPage(page, 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { status } }', {
            input: { server: 'everything', tools: ['get-tiny-image'], reason: 'a long reason that has to wrap on a narrow window without widening the page', durationSeconds: 1800 },
          });
          expect(answer.body).toMatchObject({ data: { createAccessRequest: { status: 'PENDING' } } });
          filed = true;
        }
        await page.setViewportSize({ width, height: 800 });
        for (const path of paths) {
          await page.goto(`${broker.url}${path}`);
          await page.getByRole('heading', { level: 1 }).waitFor();
          if (path === '/review') await page.getByRole('article', { name: 'alice@example.com asks for everything' }).waitFor();
          if (path === '/notifications') await page.getByRole('button', { name: /^Retry / }).first().waitFor();
          await page.locator('[aria-busy="true"]').waitFor({ state: 'detached' }).catch(() => {});
          expect(await scrollsSideways(page), `${path} at ${width} px`).toBe(false);
          await scanAccessibility(page, `${path} at ${width} px`);
          await screenshot(page, `console-narrow-${width}${path === '/' ? '-overview' : path.replace('/', '-')}`);
        }
        problems.expectNone();
      });
    }
  }, 50_000);

  it('can be used with the keyboard alone: skip link, then a request filed without a mouse, every focus visible', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/requests');
      await page.getByRole('button', { name: 'Request access to everything' }).waitFor();
      await tabTo(page, /^Skip to main content$/, 3);
      await page.keyboard.press('Enter');
      await tabTo(page, /^Request access to everything$/);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Request access to everything');
      await tabTo(page, /^Tool names or patterns$/);
      await page.keyboard.type('echo');
      await tabTo(page, /^Reason$/);
      await page.keyboard.type('typed without a mouse');
      await tabTo(page, /^Send request$/);
      await page.keyboard.press('Enter');
      await page.getByText(/^Your request for everything was (sent|approved)/).waitFor();
      problems.expectNone();
    }));

  it("shows times in the viewer's time zone, with the UTC time on hover", async () => {
    const context = await chromium.browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-GB' });
    try {
      const page = await context.newPage();
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/audit');
      const time = page.getByRole('table', { name: /^Audit events/ }).locator('time').first();
      await time.waitFor();
      const iso = (await time.getAttribute('datetime'))!;
      const utc = new Date(iso);
      expect(await time.getAttribute('title')).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`);
      const tokyo = new Date(utc.getTime() + 9 * 3600_000);
      const hms = [tokyo.getUTCHours(), tokyo.getUTCMinutes(), tokyo.getUTCSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
      expect(await time.textContent()).toContain(hms);
    } finally {
      await context.close();
    }
  });

  it("resumes the live tail after its connection drops, from where it was: what happened meanwhile appears once", () =>
    withPage(chromium.browser, async ({ page }) => {
      // Every graphql-ws socket of Carol's page goes through the test, which can drop it and hold off reconnects.
      const sockets: WebSocketRoute[] = [];
      let refuse = false;
      await page.routeWebSocket(/\/graphql$/, (ws) => {
        if (refuse) return void ws.close({ code: 4000, reason: 'network down (test)' });
        sockets.push(ws);
        ws.connectToServer();
      });
      // Filtered to what has not happened yet: the tail starts with no event of its own to resume after.
      await signInInBrowser(page, broker.url, 'corp', 'carol', '/audit?type=auth.token.created');
      await page.getByText(/no event/i).first().waitFor();
      await page.getByRole('switch', { name: 'Live tail' }).check();
      await page.getByText('Live: new events appear at the top.').waitFor();
      const rows = page.getByRole('table', { name: /^Audit events/ }).getByRole('row').filter({ hasText: 'auth.token.created' });
      const drop = async () => {
        refuse = true;
        for (const ws of sockets.splice(0)) await ws.close({ code: 4000, reason: 'network down (test)' });
        await page.getByText(/^Live feed interrupted/).waitFor();
      };
      const reconnect = async () => {
        refuse = false;
        await page.getByText('Live: new events appear at the top.').waitFor({ timeout: 20_000 });
      };

      await withPage(chromium.browser, async (alice) => {
        await signInInBrowser(alice.page, broker.url, 'corp', 'alice', '/tokens');
        const token = (name: string) => graphqlFromPage(alice.page, 'mutation($name: String!) { createApiToken(name: $name, scopes: ["mcp"], ttlSeconds: 3600) { apiToken { id } } }', { name });
        await drop();
        await token('during the first drop');
        await reconnect();
        await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(1);
        await drop();
        await token('during the second drop');
        await reconnect();
        await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(2);
      });
      // Nothing came twice.
      await page.waitForTimeout(500);
      expect(await rows.count()).toBe(2);
    }));

  it('sends a browser whose sign-in ended to sign in again, and back to the page it was on', () =>
    withPage(chromium.browser, async ({ context, page }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/audit?outcome=DENIED');
      await page.getByRole('table', { name: /^Audit events/ }).or(page.getByText(/no event/i)).first().waitFor();
      // The session ends on the broker (as at its expiry, or a sign-out elsewhere): the cookie stays.
      const cookie = (await context.cookies(broker.url)).find((c) => c.name === 'portcullis_session')!;
      expect(await broker.server.stores.sessions.delete(parseCredential('pcs', cookie.value)!.id)).toBe(true);
      // The next query the page makes is refused: the browser goes to sign in, naming where it was.
      await page.getByLabel('Outcome').selectOption('ERROR');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.waitForURL((url) => url.pathname === '/signin');
      expect(new URL(page.url()).searchParams.get('returnTo')).toBe('/audit?outcome=error');
      await page.getByRole('link', { name: /^Sign in with/ }).click();
      await signInAtTestIdp(page, broker.url, 'alice');
      await page.waitForURL(`${broker.url}/audit?outcome=error`);
      await expect.poll(() => page.getByLabel('Outcome').inputValue()).toBe('ERROR');
    }));
});
