import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AnomalyRecord } from '../../server/detection/types.js';
import { seedAnomaly } from '../support/anomaly-seed.js';
import { chromiumForFile, describeInBrowser, graphqlFromPage, scanAccessibility, screenshot, signInInBrowser, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';

const chromium = chromiumForFile();

/**
 * Issue 17 point 4 in the console: an auditor reads an anomaly (observed beside baseline),
 * follows a triggering event into the audit view, and acknowledges it; nobody else has the
 * page. (How the detector raises one is its own tests' business; here the store holds one.)
 */
describeInBrowser('anomalies in the console', () => {
  let broker: BrowserBroker;
  let anomaly: AnomalyRecord;
  beforeAll(async () => {
    broker = await startBrowserBroker();
    anomaly = await seedAnomaly(broker.server.stores, { user: 'alice@example.com', triggering: 2 });
  });
  afterAll(() => broker.close());

  it('an auditor opens an anomaly, follows a triggering event into the audit log, acknowledges it and suppresses its rule for the user', async () => {
    await withPage(chromium.browser, async ({ page, problems }) => {
      await signInInBrowser(page, broker.url, 'corp', 'carol', '/');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Anomalies' }).click();
      const table = page.getByRole('table', { name: 'Open anomalies, newest first' });
      const row = table.getByRole('row').filter({ hasText: 'alice@example.com' });
      await row.waitFor();
      expect(await row.textContent()).toContain('High');
      expect(await row.textContent()).toContain('probing');
      await scanAccessibility(page, 'anomalies-list');

      await row.getByRole('link', { name: anomaly.summary }).click();
      await page.getByRole('heading', { level: 1, name: 'Anomaly: probing' }).waitFor();
      const comparison = page.getByRole('table', { name: 'Observed values beside the baseline they were compared with' });
      expect(await comparison.getByRole('row', { name: /denials/ }).textContent()).toBe('denials2—');
      expect(await comparison.getByRole('row', { name: /threshold/ }).textContent()).toBe('threshold—2');
      const events = page.getByRole('table', { name: 'Audit events that triggered the anomaly, oldest first' });
      expect(await events.getByRole('row').count()).toBe(1 + anomaly.eventIds.length);
      await screenshot(page, 'anomaly-detail');
      await scanAccessibility(page, 'anomaly-detail');

      // The first triggering event, in the audit view: open in the drawer, among its session's events.
      await events.getByRole('link', { name: /Show in the audit log/ }).first().click();
      const drawer = page.getByRole('dialog', { name: 'Audit event mcp.request' });
      await drawer.waitFor();
      expect(await drawer.textContent()).toContain(anomaly.eventIds[0]);
      expect(new URL(page.url()).searchParams.get('session')).toBe(anomaly.sessionId);
      const sessionRows = page.getByRole('table', { name: /Audit events/ }).getByRole('row');
      await expect.poll(() => sessionRows.count()).toBe(1 + anomaly.eventIds.length + 1);
      await scanAccessibility(page, 'anomaly-event-in-audit-log');
      await drawer.getByRole('button', { name: 'Close' }).click();

      await page.goBack();
      await page.getByLabel('Note (optional)').fill('pen test INC-77');
      await page.getByRole('button', { name: 'Acknowledge' }).click();
      await page.getByText('Acknowledged: the audit log records it with your note.').waitFor();
      await page.getByText('by carol@example.com').waitFor();
      await scanAccessibility(page, 'anomaly-acknowledged');

      // A known cause: the rule is silenced for this user for a while, with the cause required.
      await page.getByRole('button', { name: 'Suppress probing for alice@example.com…' }).click();
      const dialog = page.getByRole('dialog', { name: 'Suppress probing for alice@example.com' });
      await dialog.getByLabel('For').selectOption({ label: '3 d' });
      await dialog.getByRole('button', { name: 'Suppress' }).click();
      await dialog.getByText('Give the known cause: it is recorded in the audit log.').waitFor();
      await scanAccessibility(page, 'anomaly-suppress-dialog');
      await dialog.getByLabel('Known cause').fill('pen test this week');
      await dialog.getByRole('button', { name: 'Suppress' }).click();
      await page.getByText('No probing anomaly is raised for alice@example.com for 3 d.').waitFor();
      problems.expectNone();
    });
    const [suppression] = await broker.server.stores.anomalies.suppressions(Date.now());
    expect(suppression).toMatchObject({ user: 'alice@example.com', rule: 'probing', reason: 'pen test this week', createdBy: 'carol@example.com' });
    expect(suppression!.expiresAt - suppression!.createdAt).toBe(3 * 86_400_000);
    const [acknowledged] = (await broker.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'anomaly.acknowledged');
    expect(acknowledged).toMatchObject({ actor: 'carol@example.com', data: { anomalyId: anomaly.id, note: 'pen test INC-77' } });
  }, 60_000);

  it('a non-auditor has no Anomalies page and the API refuses them', async () => {
    await withPage(chromium.browser, async ({ page }) => {
      await signInInBrowser(page, broker.url, 'corp', 'alice', '/');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Audit log' }).waitFor();
      expect(await nav.getByRole('link', { name: 'Anomalies' }).count()).toBe(0);
      await page.goto(`${broker.url}/anomalies`);
      await page.getByText('Only auditors see anomalies.').waitFor();
      const refused = (await graphqlFromPage(page, '{ anomalies { items { id } } }')).body as { errors: { extensions: { code: string } }[] };
      expect(refused.errors[0]!.extensions.code).toBe('FORBIDDEN');
    });
  });
});
