import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumForFile, describeInBrowser, graphqlFromPage, scanAccessibility, screenshot, signInInBrowser, watchPage } from '../support/browser.js';
import type { PageProblems } from '../support/browser.js';
import { startBrowserBroker } from '../support/browser-broker.js';
import type { BrowserBroker } from '../support/browser-broker.js';
import { connectClient } from '../support/broker-fixture.js';
import { describeOnEachStore } from '../support/each-store.js';

const chromium = chromiumForFile();
const MESSAGE = 'hello from the console test';

/**
 * Nobody is auto-approved, so every grant goes through a reviewer; Bob (sre) reviews and
 * may request too, so his own request shows what self-review looks like in the console.
 */
const ROLES = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], denyTools: ['get-env'], maxDurationSeconds: 7200 }] },
  { name: 'lead', members: { groups: ['sre'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 3600 }], review: [{ server: 'everything', tools: ['*'] }] },
  { name: 'auditor', members: { groups: ['security'] }, audit: true },
];

interface Person {
  page: Page;
  problems: PageProblems;
}

/** The accessibility scan and a screenshot of a console page as it is now, named for the store and step. */
async function checkPage(store: string, person: Person, label: string): Promise<void> {
  await screenshot(person.page, `console-${store}-${label}`);
  await scanAccessibility(person.page, label);
}

describeInBrowser('the web console in a real browser', () => {
  describeOnEachStore('request, review, call, audit and revoke', (start) => {
    let broker: BrowserBroker;
    beforeAll(async () => {
      broker = await startBrowserBroker({ start, overrides: { roles: ROLES } });
    });
    afterAll(() => broker.close());

    it('Alice requests, Bob approves live, Alice calls through the broker, Carol watches it live and exports it, and a revoke in the console closes the session', async () => {
      const contexts = await Promise.all([0, 1, 2].map(() => chromium.browser.newContext()));
      try {
        const [alice, bob, carol] = await Promise.all(
          contexts.map(async (context) => {
            context.setDefaultTimeout(10_000);
            const page = await context.newPage();
            return { page, problems: await watchPage(page) };
          }),
        );
        const storeName = broker.server.stores.kind;

        // Signed out, a console page is the sign-in page, which comes back to it.
        await signInInBrowser(alice!.page, broker.url, 'corp', 'alice', '/requests');
        await signInInBrowser(bob!.page, broker.url, 'corp', 'bob', '/review');
        await signInInBrowser(carol!.page, broker.url, 'corp', 'carol', '/audit');
        await expect.poll(() => alice!.page.url()).toBe(`${broker.url}/requests`);

        // Bob's queue is open, and empty, before anything is asked.
        await bob!.page.getByText('No request waits for your review.').waitFor();
        await checkPage(storeName, bob!, 'review-empty');

        // Carol follows the log live from before the call.
        await carol!.page.getByRole('switch', { name: 'Live tail' }).check();
        await carol!.page.getByText('Live: new events appear at the top.').waitFor();

        // Alice: the catalogue lists the server's tools as the upstream describes them.
        const catalogue = alice!.page.getByRole('article', { name: 'everything' });
        await catalogue.getByText('echo', { exact: true }).first().waitFor();
        await checkPage(storeName, alice!, 'requests-catalogue');
        await catalogue.getByRole('button', { name: 'Request access to everything' }).click();
        // A refusal is shown next to its field: a tool the rule excludes.
        await alice!.page.getByLabel('Tool names or patterns').fill('get-env');
        await alice!.page.getByLabel('Reason', { exact: true }).fill('Debugging the console end to end');
        await alice!.page.getByRole('button', { name: 'Send request' }).click();
        await alice!.page.locator('#request-tools-error').getByText('get-env').waitFor();
        await checkPage(storeName, alice!, 'requests-refused');
        await alice!.page.getByLabel('Tool names or patterns').fill('');
        await alice!.page.getByRole('checkbox', { name: /^echo\b/ }).check();
        await alice!.page.getByRole('button', { name: 'Send request' }).click();
        await alice!.page.getByText('Your request for everything was sent and waits for review.').waitFor();
        const myRequests = alice!.page.getByRole('table', { name: 'My requests (updated live)' });
        await myRequests.getByRole('row').filter({ hasText: 'Pending review' }).waitFor();

        // Alice watches her grants on a second page of the same browser.
        const aliceGrants = { page: await contexts[0]!.newPage(), problems: alice!.problems };
        await aliceGrants.page.goto(`${broker.url}/grants`);
        await aliceGrants.page.getByRole('heading', { level: 1 }).waitFor();

        // Bob files a request of his own: his queue never offers him to review it.
        const own = await graphqlFromPage(bob!.page, 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id status } }', {
          input: { server: 'everything', tools: ['get-sum'], reason: 'my own', durationSeconds: 600 },
        });
        expect(own.body).toMatchObject({ data: { createAccessRequest: { status: 'PENDING' } } });

        // Alice's request reaches Bob's open page without a reload.
        const card = bob!.page.getByRole('article', { name: 'alice@example.com asks for everything' });
        await card.waitFor();
        await expect.poll(() => bob!.page.getByRole('article', { name: 'bob@example.com asks for everything' }).count()).toBe(0);
        await expect(card.getByText('Debugging the console end to end')).toBeTruthy();
        await checkPage(storeName, bob!, 'review-pending');
        // Deny needs a reason; approve (shorter than asked) does not.
        await card.getByRole('button', { name: 'Deny' }).click();
        await card.getByText('Give a reason to deny: the requester reads it.').waitFor();
        await card.getByLabel('Approve for').selectOption(String(30 * 60));
        await card.getByLabel('Reason').fill('Looks right');
        await card.getByRole('button', { name: 'Approve' }).click();
        await bob!.page.getByText("Approved: alice@example.com's request for everything.").waitFor();

        // Alice's pages show the decision and the grant without a reload.
        await myRequests.getByRole('row').filter({ hasText: 'Approved' }).waitFor();
        const grantRow = aliceGrants.page.getByRole('row').filter({ hasText: 'everything' }).filter({ has: aliceGrants.page.getByRole('button', { name: /Revoke/ }) });
        await grantRow.waitFor();
        const granted = await graphqlFromPage(aliceGrants.page, '{ grants(active: true) { items { issuedAt expiresAt } } }');
        const [issued] = (granted.body as { data: { grants: { items: { issuedAt: string; expiresAt: string }[] } } }).data.grants.items;
        expect(Date.parse(issued!.expiresAt) - Date.parse(issued!.issuedAt)).toBe(30 * 60 * 1000);
        await checkPage(storeName, aliceGrants, 'grants-active');

        // Alice makes a token for her MCP client: shown once, listed after.
        await alice!.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
        await alice!.page.getByLabel('Name', { exact: true }).fill('laptop');
        await alice!.page.getByRole('checkbox', { name: /^mcp\b/ }).check();
        await alice!.page.getByRole('button', { name: 'Create token' }).click();
        const secret = await alice!.page.getByLabel('Token secret').inputValue();
        expect(secret).toMatch(/^pcl_/);
        await checkPage(storeName, alice!, 'tokens-new-secret');
        await alice!.page.getByRole('button', { name: 'I have stored it' }).click();
        await alice!.page.getByRole('table', { name: 'Your live API tokens' }).getByRole('row').filter({ hasText: 'laptop' }).waitFor();
        expect(await alice!.page.getByText(secret).count()).toBe(0);

        // Alice's MCP client calls a tool through the broker with that token.
        const mcp = await connectClient(`${broker.url.replace('http:', 'ws:')}/mcp/ws/everything`, secret);
        let closed = false;
        mcp.transport.onclose = () => void (closed = true);
        const answer = await mcp.client.callTool({ name: 'echo', arguments: { message: MESSAGE } });
        expect(JSON.stringify(answer.content)).toContain(MESSAGE);

        // Carol sees the call arrive live, then filters to it (the URL holds the filters).
        const events = carol!.page.getByRole('table', { name: /^Audit events/ });
        await events.getByRole('row').filter({ hasText: 'mcp.request' }).filter({ hasText: 'echo' }).first().waitFor();
        await carol!.page.getByRole('switch', { name: 'Live tail' }).uncheck();
        await carol!.page.getByLabel('User').fill('alice@example.com');
        await carol!.page.getByLabel('Tool').fill('echo');
        await carol!.page.getByRole('button', { name: 'Apply filters' }).click();
        await expect.poll(() => new URL(carol!.page.url()).searchParams.get('tool')).toBe('echo');
        expect(new URL(carol!.page.url()).searchParams.get('user')).toBe('alice@example.com');
        const callRow = events.getByRole('row').filter({ hasText: 'mcp.request' });
        await callRow.first().waitFor();
        await checkPage(storeName, carol!, 'audit-filtered');

        // A link with those filters opens the log the same way.
        const linked = await contexts[2]!.newPage();
        await linked.goto(carol!.page.url());
        await linked.getByRole('table', { name: /^Audit events/ }).getByRole('row').filter({ hasText: 'mcp.request' }).first().waitFor();
        expect(await linked.getByLabel('Tool').inputValue()).toBe('echo');
        await linked.close();

        // The drawer: the parameters as stored, the grant and request behind the call, the chain hash.
        await callRow.first().getByRole('button', { name: /^Details/ }).click();
        const drawer = carol!.page.getByRole('dialog');
        await drawer.getByText(MESSAGE).waitFor();
        await drawer.getByText('Approved by bob@example.com').waitFor();
        await drawer.getByText('Debugging the console end to end').waitFor();
        const hash = (await drawer.locator('code.hash').first().textContent()) ?? '';
        expect(hash).toMatch(/^[0-9a-f]{64}$/);
        await checkPage(storeName, carol!, 'audit-drawer');
        await carol!.page.keyboard.press('Escape');
        await drawer.waitFor({ state: 'detached' });

        // Export of the current filter: JSON lines, only what the filter matches, the call among them.
        const [download] = await Promise.all([carol!.page.waitForEvent('download'), carol!.page.getByRole('button', { name: 'Export JSON lines' }).click()]);
        const lines = (await readFile((await download.path())!, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { actor: string; tool: string; hash: string; data: { params?: unknown } });
        expect(lines.length).toBeGreaterThan(0);
        expect(lines.every((e) => e.actor === 'alice@example.com' && e.tool === 'echo')).toBe(true);
        expect(lines.some((e) => e.hash === hash && JSON.stringify(e.data.params).includes(MESSAGE))).toBe(true);

        // The same chain verification as the CLI.
        await carol!.page.getByRole('button', { name: 'Verify chain' }).click();
        await carol!.page.getByText(/^Intact: [\d,]+ events chain correctly\.$/).waitFor();

        // A revoke from the console closes Alice's live MCP session.
        await grantRow.getByRole('button', { name: /Revoke/ }).click();
        const dialog = aliceGrants.page.getByRole('dialog', { name: 'Revoke the grant on everything' });
        await dialog.getByLabel('Reason').fill('Done debugging');
        await dialog.getByRole('button', { name: 'Revoke grant' }).click();
        await expect.poll(() => closed).toBe(true);
        await expect.poll(() => grantRow.count()).toBe(0);

        // Every other page: the overview and how to connect.
        for (const [path, label] of [
          ['/', 'overview'],
          ['/connect', 'connect'],
        ] as const) {
          await alice!.page.goto(`${broker.url}${path}`);
          await alice!.page.getByRole('heading', { level: 1 }).waitFor();
          await checkPage(storeName, alice!, label);
        }
        await alice!.page.getByText(`${broker.url}/mcp`, { exact: true }).first().waitFor();
        await alice!.page.getByLabel('Server').selectOption('everything');
        await alice!.page.getByText(`claude mcp add --transport http everything ${broker.url}/mcp/everything`).waitFor();

        for (const person of [alice!, bob!, carol!]) person.problems.expectNone();
        await mcp.client.close().catch(() => {});
      } finally {
        await Promise.all(contexts.map((context) => context.close()));
      }
    }, 120_000);
  });
});
