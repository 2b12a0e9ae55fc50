import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpAgents, StreamableHttpUpstream } from '../../broker/upstreams/streamable-http.js';

/**
 * Security review: the standalone GET stream of a Streamable HTTP upstream was reopened
 * after whatever its `retry:` field said, so a server sending `retry: 0` and ending every
 * stream at once had the broker reconnect back to back (each open that succeeded reset the
 * failure count), and one sending a delay past setTimeout's range had the same effect.
 */

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
/** Long enough for the bug to show hundreds of opens, short enough that a sound broker opens at most twice. */
const WINDOW_MS = 1_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the upstream's standalone event stream, reopened after a server-chosen retry", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An MCP server over Streamable HTTP whose GET stream says `retry: <retry>` and ends at once; counts the GETs. */
  async function streamEnder(retry: string): Promise<{ url: string; gets: () => number }> {
    let gets = 0;
    const server = createServer((req, res) => {
      if (req.method === 'GET') {
        gets++;
        return void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(`retry: ${retry}\n\n`);
      }
      if (req.method !== 'POST') return void res.writeHead(200).end();
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: number };
        if (message.id === undefined) return void res.writeHead(202).end();
        const result = { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'stream-ender', version: '1' } };
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'one' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => server.closeAllConnections());
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, gets: () => gets };
  }

  /** Initializes a broker-side upstream session on `url` (which opens the GET stream) and counts the opens over WINDOW_MS from the first. */
  async function opensInWindow(server: { url: string; gets: () => number }): Promise<{ opens: number; closed: string[] }> {
    const agents = createHttpAgents();
    const upstream = new StreamableHttpUpstream({ name: 'ender', transport: 'streamable-http', url: server.url, headers: {}, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' }, agents);
    const closed: string[] = [];
    upstream.onclose = (reason) => void closed.push(reason);
    cleanups.push(() => agents.http.destroy(), () => upstream.close());
    await upstream.start();
    await upstream.send(INITIALIZE);
    await upstream.send(INITIALIZED);
    await expect.poll(server.gets).toBeGreaterThan(0);
    await sleep(WINDOW_MS);
    return { opens: server.gets(), closed };
  }

  it('waits at least the default second between opens when the server asks for retry: 0', async () => {
    const { opens, closed } = await opensInWindow(await streamEnder('0'));
    // The first open and the one a second later; a third at most on a slow machine.
    expect(opens).toBeLessThanOrEqual(3);
    expect(opens).toBeGreaterThanOrEqual(1);
    // Streams that open and end are no failure: the session goes on.
    expect(closed).toEqual([]);
  });

  it('caps a retry past what a timer can wait, instead of reopening at once', async () => {
    const { opens, closed } = await opensInWindow(await streamEnder(String(2 ** 40)));
    expect(opens).toBeLessThanOrEqual(3);
    expect(closed).toEqual([]);
  });
});
