import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe } from 'vitest';
import { isCi } from './ci.js';

export { serveTestIdpLoginPage, signInAtTestIdp, signInInBrowser } from './test-idp-page.js';
export type { TestIdpLoginPage, TestIdpUser } from './test-idp-page.js';

/** The machine's Chromium (Debian's package); the project never downloads a browser of its own. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_INSTALL_HINT =
  `Chromium was not found at ${CHROMIUM_PATH}. Install the distribution's package to run the browser tests: ` +
  '`sudo apt-get install -y chromium` (Debian/Ubuntu), or point CHROMIUM_PATH at a Chromium or Chrome binary.';

/**
 * Without these, Chromium phones home at start (field trials, component updates, sync,
 * QUIC probes): on a machine with a closed network each attempt is refused, many at a
 * time, and slows every launch.
 */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function hasChromium(): boolean {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Headless Chromium from CHROMIUM_PATH; a readable error when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!hasChromium()) throw new Error(CHROMIUM_INSTALL_HINT);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

const chromiumMissingOutsideCi = !hasChromium() && !isCi();
if (chromiumMissingOutsideCi) console.warn(`\n${CHROMIUM_INSTALL_HINT}\nThe browser tests are skipped (under CI=true they fail).\n`);

/**
 * describe() for suites that drive Chromium: skipped with a hint when it is missing,
 * except under CI=true, where the suite runs and fails at launch.
 */
export const describeInBrowser = chromiumMissingOutsideCi ? describe.skip : describe;

/**
 * One Chromium for the whole test file, launched before its first test and closed after
 * its last; tests open a context per person (contexts share nothing: cookies, storage).
 * Call at the top level of the file.
 */
export function chromiumForFile(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  let launchError: unknown;
  beforeAll(async () => {
    if (chromiumMissingOutsideCi) return;
    // Kept for each test to throw: every browser test then fails by name (CI=true without
    // Chromium), rather than being reported as skipped behind one failed hook.
    browser = await launchChromium().catch((error: unknown) => void (launchError = error));
  });
  afterAll(() => browser?.close());
  return {
    get browser() {
      if (launchError) throw launchError;
      if (!browser) throw new Error('Chromium is not running: call chromiumForFile() at the top level of the test file');
      return browser;
    },
  };
}

/** What axe-core rates serious or critical fails the scan; lesser findings are left to review. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);
const NODES_SHOWN = 5;

/**
 * Runs axe-core on the page as it is now and throws, listing each serious or critical
 * violation with the elements it concerns. axe is injected with page.evaluate, which the
 * DevTools protocol runs outside the page's Content-Security-Policy, so the strict CSP of
 * our pages needs no bypass (and the page is scanned under its real policy).
 */
export async function scanAccessibility(page: Page, label: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const failing = results.violations.filter((v) => FAILING_IMPACTS.has(v.impact ?? ''));
  if (failing.length === 0) return;
  const lines = failing.flatMap((v) => [
    `- ${v.id} (${v.impact}): ${v.help} [${v.helpUrl}]`,
    ...v.nodes.slice(0, NODES_SHOWN).map((node) => `    at ${node.target.join(' ')}: ${node.failureSummary?.replace(/\s*\n\s*/g, ' ') ?? ''}`),
    ...(v.nodes.length > NODES_SHOWN ? [`    and ${v.nodes.length - NODES_SHOWN} more`] : []),
  ]);
  throw new Error(`Accessibility scan of "${label}" (${page.url()}) found ${failing.length} serious or critical violation(s):\n${lines.join('\n')}`);
}

/** Where screenshots go: $PORTCULLIS_SCREENSHOTS, else test-results/screenshots (not committed). */
export function screenshotDir(): string {
  return process.env.PORTCULLIS_SCREENSHOTS || join(process.cwd(), 'test-results', 'screenshots');
}

/** A full-page PNG at `<screenshotDir>/<label>.png`; returns its path. */
export async function screenshot(page: Page, label: string): Promise<string> {
  const dir = screenshotDir();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${label.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface CspViolation {
  url: string;
  directive: string;
  blocked: string;
  line: number;
}

export interface PageProblems {
  /** `securitypolicyviolation` events, from every document the page showed. */
  readonly cspViolations: CspViolation[];
  /** console.error messages (Chromium's own CSP reports excepted: they are in cspViolations). */
  readonly consoleErrors: string[];
  /** Uncaught exceptions and unhandled rejections. */
  readonly pageErrors: string[];
  /** One line per problem, for a failure message. */
  list(): string[];
  /** Throws, listing them all, unless nothing went wrong. */
  expectNone(): void;
}

const CSP_BINDING = '__portcullisCspViolation';

/**
 * Chromium asks every origin for /favicon.ico on its own (once per browser, so only in
 * whichever test comes first) and logs the 404 as a console error: that is the browser's
 * request, not the page's; a page that links an icon is checked like any other resource.
 */
function isFaviconMiss(url: string): boolean {
  return URL.canParse(url) && new URL(url).pathname === '/favicon.ico';
}

/**
 * Records what went wrong on a page, across navigations: CSP violations (reported by the
 * page's own `securitypolicyviolation` events, through a binding), console errors and
 * uncaught exceptions. Call before the first navigation.
 */
export async function watchPage(page: Page): Promise<PageProblems> {
  const cspViolations: CspViolation[] = [];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  await page.exposeBinding(CSP_BINDING, (_source, violation: CspViolation) => void cspViolations.push(violation));
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => globalThis.${CSP_BINDING}({ url: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI, line: e.lineNumber }));`,
  });
  page.on('console', (message) => {
    if (message.type() !== 'error' || message.text().includes('Content Security Policy') || isFaviconMiss(message.location().url)) return;
    consoleErrors.push(`${message.location().url}: ${message.text()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(`${error.name}: ${error.message}`));
  const list = () => [
    ...cspViolations.map((v) => `CSP violation on ${v.url}: ${v.directive} blocked ${v.blocked} (line ${v.line})`),
    ...consoleErrors.map((e) => `console error at ${e}`),
    ...pageErrors.map((e) => `uncaught ${e}`),
  ];
  return {
    cspViolations,
    consoleErrors,
    pageErrors,
    list,
    expectNone() {
      const lines = list();
      if (lines.length > 0) throw new Error(`The page reported ${lines.length} problem(s):\n${lines.map((l) => `- ${l}`).join('\n')}`);
    },
  };
}

const STEP_TIMEOUT_MS = 8_000;

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

/**
 * One person's browser: a fresh context (its own cookies and storage) with a watched page,
 * closed after `use`, also when it throws.
 */
export async function withPage<T>(browser: Browser, use: (session: BrowserSession) => Promise<T>): Promise<T> {
  const context = await browser.newContext();
  // Under the test's own timeout, so a wait that fails says which step it was.
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const problems = await watchPage(page);
  try {
    return await use({ context, page, problems });
  } catch (error) {
    // A blocked form post or script shows up as a wait that times out: say what the page saw.
    if (error instanceof Error && problems.list().length > 0) error.message += `\nMeanwhile the page reported:\n${problems.list().map((l) => `- ${l}`).join('\n')}`;
    throw error;
  } finally {
    await context.close();
  }
}

/**
 * A GraphQL operation sent by the page itself (fetch from its origin, with its cookie),
 * as the console sends them: the answer proves what the browser's session can do.
 */
export function graphqlFromPage(page: Page, query: string, variables: Record<string, unknown> = {}): Promise<{ status: number; body: unknown }> {
  return page.evaluate(
    async ({ query, variables }) => {
      const res = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return { status: res.status, body: (await res.json()) as unknown };
    },
    { query, variables },
  );
}
