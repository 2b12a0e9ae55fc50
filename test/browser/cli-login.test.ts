import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumForFile, describeInBrowser, scanAccessibility, screenshot, signInAtTestIdp, withPage } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { finished, LOGIN_PROMPT, spawnCli, waitForStderr } from '../support/cli.js';

const chromium = chromiumForFile();

describeInBrowser('the CLI login approval page in a real browser', () => {
  let broker: BrowserBroker;
  beforeAll(async () => {
    broker = await startBrowserBroker();
  });
  afterAll(() => broker.close());

  /** `portcullis login --no-browser` as a user runs it; the page opens the URL it prints and signs in as alice. */
  async function approvalPage(page: Page) {
    const home = mkdtempSync(join(tmpdir(), 'portcullis-cli-home-'));
    const cli = spawnCli(['login', '--broker', broker.url, '--no-browser'], { XDG_CONFIG_HOME: home });
    const done = finished(cli);
    const [, loginUrl, code] = await waitForStderr(cli, LOGIN_PROMPT);
    await page.goto(loginUrl!);
    await signInAtTestIdp(page, broker.url, 'alice');
    expect(new URL(page.url()).pathname).toBe('/auth/cli/finish');
    return { done, code: code!, credentials: join(home, 'portcullis', 'credentials.json') };
  }

  /** The broker sends the browser on to the CLI's own listener on 127.0.0.1, which answers it. */
  const atListener = (page: Page) => page.waitForURL((url) => url.pathname === '/callback' && url.port !== new URL(broker.url).port);

  it('after sign-in, names the person and the code the terminal printed; Allow hands the login to the CLI, which stores it', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      const cli = await approvalPage(page);
      expect(await page.getByRole('heading', { level: 1 }).innerText()).toMatch(/CLI/);
      const text = await page.locator('body').innerText();
      expect(text).toContain(cli.code);
      expect(text).toContain('alice@example.com');
      await scanAccessibility(page, 'CLI login approval');
      await screenshot(page, 'cli-login-approval');

      await page.getByRole('button', { name: 'Allow' }).click();
      await atListener(page);
      await expect(page.locator('body').innerText()).resolves.toContain('Signed in to Portcullis as alice@example.com');
      const result = await cli.done;
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(cli.credentials)).toBe(true);
      problems.expectNone();
    }));

  it('Cancel tells the CLI, which stops and stores nothing', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      const cli = await approvalPage(page);
      await page.getByRole('button', { name: 'Cancel' }).click();
      await atListener(page);
      await expect(page.locator('body').innerText()).resolves.toContain('Sign-in cancelled');
      const result = await cli.done;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('cancelled');
      expect(existsSync(cli.credentials)).toBe(false);
      problems.expectNone();
    }));
});
