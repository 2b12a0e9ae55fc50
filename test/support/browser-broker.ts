import { systemClock } from '../../server/clock.js';
import { BROKER_POLICY } from './broker-fixture.js';
import type { StartServer } from './each-store.js';
import { freePort } from './redis-server.js';
import { createTestIdp } from './test-idp.js';
import type { TestIdp } from './test-idp.js';
import { serveTestIdpLoginPage } from './test-idp-page.js';
import type { TestIdpLoginPage, TestIdpUser } from './test-idp-page.js';
import { startTestServer, testConfig } from './test-server.js';
import type { TestServer } from './test-server.js';
import { startWebhookReceiver } from './webhook-receiver.js';
import type { Answer, WebhookReceiver } from './webhook-receiver.js';

/** The people of the browser tests: a requester, a reviewer, an auditor (as in the demo). */
export const BROWSER_USERS: readonly TestIdpUser[] = [
  { label: 'alice', email: 'alice@example.com', displayName: 'Alice Example', groups: ['engineering'] },
  { label: 'bob', email: 'bob@example.com', displayName: 'Bob Example', groups: ['sre'] },
  { label: 'carol', email: 'carol@example.com', displayName: 'Carol Example', groups: ['security'] },
];

export interface BrowserIdpSpec {
  id: string;
  users?: readonly TestIdpUser[];
  /** Required by the config as soon as there are two IdPs: the domains this one vouches for. */
  emailDomains?: string[];
  /** Serve Single Logout at the IdP's page, checking the broker's LogoutRequests with this SP certificate. */
  singleLogout?: { spCert: string };
}

export interface BrowserBroker {
  /** The broker's URL, which is also its public URL: what the browser sees is what its config says. */
  url: string;
  server: TestServer;
  idps: TestIdp[];
  /** Each IdP's login page (and Single Logout endpoint), in the order of `idps`. */
  pages: TestIdpLoginPage[];
  close(): Promise<void>;
}

/**
 * A real broker for a real browser, with a test IdP login page per IdP (entryPoint at that
 * page). Unlike the fetch-driven tests, whose brokers all say TEST_PUBLIC_URL, a browser
 * follows the broker's redirects and posts to the ACS its public URL names, and sends that
 * origin to the same-origin checks: so the broker's port is chosen first and its public URL
 * is its real address. Roles and upstream are the test brokers' (BROKER_POLICY) plus
 * auditors (group security); `overrides` replace top-level config sections.
 */
export async function startBrowserBroker(
  options: { idps?: readonly BrowserIdpSpec[]; overrides?: Record<string, unknown>; start?: StartServer } = {},
): Promise<BrowserBroker> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const specs = options.idps ?? [{ id: 'corp' }];
  const idps = await Promise.all(specs.map((spec) => createTestIdp(spec.id, url)));
  const pages = await Promise.all(idps.map((idp, i) => serveTestIdpLoginPage(idp, specs[i]!.users ?? BROWSER_USERS, { singleLogout: specs[i]!.singleLogout })));
  const config = testConfig({
    server: { host: '127.0.0.1', port, publicUrl: url },
    identityProviders: pages.map((page, i) => ({ ...page.config, ...(specs[i]!.emailDomains ? { emailDomains: specs[i]!.emailDomains } : {}) })),
    ...BROKER_POLICY,
    roles: [...BROKER_POLICY.roles, { name: 'auditor', members: { groups: ['security'] }, audit: true }],
    ...options.overrides,
  });
  // Real time: the test IdP stamps its responses with the real clock.
  const start = options.start ?? ((c) => startTestServer({ config: c, clock: systemClock }));
  const server = await start(config);
  return {
    url,
    server,
    idps,
    pages,
    close: async () => {
      await server.close();
      await Promise.all(pages.map((page) => page.close()));
    },
  };
}

/**
 * A browser broker with one notification sink, the webhook "ops", that posts each new access
 * request to a real receiver on loopback answering as `answer` says (n: the request's index).
 */
export async function startNotifyingBrowserBroker(answer: (n: number) => Answer): Promise<{ broker: BrowserBroker; hook: WebhookReceiver; close(): Promise<void> }> {
  const secret = 'browser-webhook-secret-0123456789abcdef';
  const hook = await startWebhookReceiver(secret, answer);
  const broker = await startBrowserBroker({ overrides: { notifications: { sinks: [{ name: 'ops', type: 'webhook', url: hook.url, secret, events: ['access_request.created'] }] } } });
  return {
    broker,
    hook,
    close: async () => {
      await broker.close();
      await hook.close();
    },
  };
}
