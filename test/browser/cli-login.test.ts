import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('after sign-in, names the person and the code the terminal printed; Allow hands the login to the CLI, which stores it', () =>
    withPage(chromium.browser, async ({ page, problems }) => {
      const home = mkdtempSync(join(tmpdir(), 'portcullis-cli-home-'));
      const cli = spawnCli(['login', '--broker', broker.url, '--no-browser'], { XDG_CONFIG_HOME: home });
      const done = finished(cli);
      const [, loginUrl, code] = await waitForStderr(cli, LOGIN_PROMPT);

      await page.goto(loginUrl!);
      await signInAtTestIdp(page, broker.url, 'alice');
      expect(new URL(page.url()).pathname).toBe('/auth/cli/finish');
      expect(await page.getByRole('heading', { level: 1 }).innerText()).toMatch(/CLI/);
      const text = await page.locator('body').innerText();
      expect(text).toContain(code);
      expect(text).toContain('alice@example.com');
      await scanAccessibility(page, 'CLI login approval');
      await screenshot(page, 'cli-login-approval');

      await page.getByRole('button', { name: 'Allow' }).click();
      // The broker sends the browser on to the CLI's own listener on 127.0.0.1, which answers it.
      await page.waitForURL((url) => url.pathname === '/callback' && url.port !== new URL(broker.url).port);
      await expect(page.locator('body').innerText()).resolves.toContain('Signed in to Portcullis as alice@example.com');
      const result = await done;
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(join(home, 'portcullis', 'credentials.json'))).toBe(true);
      problems.expectNone();
    }));
});
