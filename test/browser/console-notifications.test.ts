import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { chromiumForFile, describeInBrowser, graphqlFromPage, scanAccessibility, screenshot, signInInBrowser, withPage } from '../support/browser.js';
import { startNotifyingBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import type { WebhookReceiver } from '../support/webhook-receiver.js';

const chromium = chromiumForFile();

/**
 * Issue 19 point 3 in the console: a delivery the receiver refuses for good is a dead letter
 * an auditor finds on the Notifications page (and counted in the navigation); once the
 * receiver is fixed, Retry delivers it under the same id. Nobody else has the page.
 */
describeInBrowser('notification deliveries in the console', () => {
  let setup: Awaited<ReturnType<typeof startNotifyingBrowserBroker>>;
  let broker: BrowserBroker;
  let hook: WebhookReceiver;
  /** The receiver refuses (400: a dead letter at once) until the test fixes it. */
  let fixed = false;
  beforeAll(async () => {
    setup = await startNotifyingBrowserBroker(() => (fixed ? 200 : 400));
    ({ broker, hook } = setup);
  });
  afterAll(() => setup.close());

  it('an auditor finds the dead letter of a refused delivery, and once the receiver is fixed, Retry delivers it', async () => {
    await withPage(chromium.browser, async ({ page }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/requests');
      const created = await graphqlFromPage(page, 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "incident 42", durationSeconds: 600 }) { id } }');
      expect(created.body).toMatchObject({ data: { createAccessRequest: { id: expect.any(String) } } });
    });
    await vi.waitFor(async () => expect((await broker.server.stores.notifications.entries()).map((e) => e.status)).toEqual(['DEAD']), { timeout: 15_000 });
    const [deadId] = hook.ids();

    await withPage(chromium.browser, async ({ page, problems }) => {
      await signInInBrowser(page, broker.url, 'corp', 'carol', '/');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Notifications 1 dead letter' }).click();
      await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
      await page.getByRole('button', { name: 'Dead letters' }).click();
      await page.waitForURL((url) => url.pathname === '/notifications' && url.searchParams.get('status') === 'dead');
      const deadRow = page.getByRole('table', { name: 'Dead letters, newest first' }).getByRole('row').filter({ hasText: 'alice@example.com on everything' });
      await deadRow.waitFor();
      const cells = await deadRow.getByRole('cell').allTextContents();
      // Created, Sink, Event, Subject, Status, Attempts, Last error, Next try, Actions.
      expect(cells.slice(1)).toEqual(['ops', 'access_request.created', 'alice@example.com on everything', 'Dead letter', '1', 'HTTP 400', '—', 'Retry']);
      expect(await page.getByLabel('Sink').locator('option').allTextContents()).toEqual(['Any sink', 'ops (1 dead)']);
      await screenshot(page, 'notifications-dead-letters');
      await scanAccessibility(page, 'notifications-dead-letters');

      // Every delivery, newest first: the dead letter is retried from there and its row moves on to delivered.
      await page.getByRole('button', { name: 'Clear filters' }).click();
      const row = page.getByRole('table', { name: 'Notification deliveries, newest first' }).getByRole('row').filter({ hasText: 'alice@example.com on everything' });
      await row.getByRole('button', { name: `Retry ${deadId}` }).waitFor();
      fixed = true;
      await row.getByRole('button', { name: `Retry ${deadId}` }).click();
      await page.getByText(`Retrying ${deadId}: it is tried again now`).waitFor();
      await row.getByText('Delivered', { exact: true }).waitFor();
      expect((await row.getByRole('cell').allTextContents()).slice(4, 9)).toEqual(['Delivered', '1', '—', '—', '']);
      // The count in the navigation went with the dead letter.
      await nav.getByRole('link', { name: 'Notifications', exact: true }).waitFor();
      await scanAccessibility(page, 'notifications-retried');
      problems.expectNone();
    });
    // The receiver saw the notification again, under the same id, signed.
    expect(hook.ids()).toEqual([deadId, deadId]);
    expect(hook.received.every((r) => r.verified)).toBe(true);
    const retried = (await broker.server.stores.audit.readBackward({ limit: 100 })).find((event) => event.type === 'notification.retried');
    expect(retried).toMatchObject({ actor: 'carol@example.com', data: { deliveryId: deadId } });
  }, 60_000);

  it('a non-auditor has no Notifications page and the API refuses them', async () => {
    await withPage(chromium.browser, async ({ page }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Audit log' }).waitFor();
      expect(await nav.getByRole('link', { name: /Notifications/ }).count()).toBe(0);
      await page.goto(`${broker.url}/notifications`);
      await page.getByText('Only auditors see notification deliveries.').waitFor();
      for (const query of ['{ notificationSinks { name dead } }', '{ notificationDeliveries { items { id } } }']) {
        const refused = (await graphqlFromPage(page, query)).body as { errors: { extensions: { code: string } }[] };
        expect(refused.errors[0]!.extensions.code).toBe('FORBIDDEN');
      }
    });
  });
});
