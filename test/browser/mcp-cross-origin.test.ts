import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { chromiumForFile, describeInBrowser } from '../support/browser.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';

/**
 * A browser MCP client on a page of `server.allowedOrigins` (another origin than the
 * broker's) calls the Streamable HTTP endpoint itself: Chromium's CORS preflight passes, it
 * reads the session id and a 401's challenge, runs a tool and ends its session. A page of
 * any other origin gets nothing.
 */

const chromium = chromiumForFile();

/** A blank page on its own origin (a loopback port of its own). */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>an MCP client page</title>'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface PageRun {
  challenge: string | null;
  initialized: number;
  session: string | null;
  notified: number;
  answer: unknown;
  ended: number;
}

/**
 * What a page's own fetch calls get from the broker: the whole Streamable HTTP session, as a
 * browser client runs it (plain JavaScript, run in the page as written), or why fetch failed.
 */
const PAGE_CLIENT = `async ({ url, token }) => {
  const post = (body, headers = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: JSON.stringify(body) });
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'page', version: '1' } } };
  try {
    const unauthorized = await post(initialize);
    const bearer = { authorization: 'Bearer ' + token };
    const opened = await post(initialize, bearer);
    const session = opened.headers.get('mcp-session-id');
    const inSession = { ...bearer, 'mcp-session-id': session ?? '', 'mcp-protocol-version': '2025-11-25' };
    const notified = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, inSession);
    const called = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: 'from a page' } } }, inSession);
    const ended = await fetch(url, { method: 'DELETE', headers: inSession });
    return { challenge: unauthorized.headers.get('www-authenticate'), initialized: opened.status, session, notified: notified.status, answer: await called.json(), ended: ended.status };
  } catch (error) {
    return String(error);
  }
}`;

const runFromPage = (page: Page, url: string, token: string) => page.evaluate(`(${PAGE_CLIENT})(${JSON.stringify({ url, token })})`) as Promise<PageRun | string>;

describeInBrowser('a browser page of server.allowedOrigins calls /mcp itself (CORS)', () => {
  let fx: BrokerFixture;
  let token: string;
  let allowed: { server: Server; origin: string };
  let other: { server: Server; origin: string };

  beforeAll(async () => {
    allowed = await pageServer();
    other = await pageServer();
    fx = await startBroker({ overrides: { server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL, allowedOrigins: [allowed.origin] } } });
    await fx.grant(['echo']);
    token = await fx.token();
  });
  afterAll(async () => {
    await fx?.close();
    allowed?.server.close();
    other?.server.close();
  });

  it('runs a session from a page of an allowed origin, and from no other', async () => {
    const context = await chromium.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(allowed.origin);
      const run = await runFromPage(page, fx.httpUrl(), token);
      expect(run).toMatchObject({ initialized: 200, notified: 202, ended: 204, answer: { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'Echo: from a page' }] } } });
      const { challenge, session } = run as PageRun;
      expect(challenge).toMatch(/^Bearer .*resource_metadata="[^"]+"/);
      expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);

      await page.goto(other.origin);
      const refused = await runFromPage(page, fx.httpUrl(), token);
      expect(refused).toMatch(/TypeError: Failed to fetch/);
    } finally {
      await context.close();
    }
  });
});
