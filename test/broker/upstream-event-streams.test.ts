import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpAgents, StreamableHttpUpstream } from '../../broker/upstreams/streamable-http.js';

/**
 * Review: the SSE stream answering a POST of a notification or a response ended the way
 * the standalone GET stream does, by scheduling a GET; each of those GET streams then
 * reopened itself for the session's life. A server answering such POSTs with a stream it
 * ends at once (and sending `ping`s, which the broker answers with a POST) made the
 * broker open one more endless GET loop per POST: ~200 GETs a second after 200 POSTs.
 */

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
/** Each stream is reopened a second after it ends at the soonest: a sound broker opens at most three in this window. */
const WINDOW_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Handler = (req: IncomingMessage, res: ServerResponse, message: { id?: unknown; method?: string }) => void;

describe("a Streamable HTTP upstream's event streams", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An MCP server: initialize answered with JSON and a session id, other POSTs by `post`, GETs by `get`. */
  async function serve(post: Handler, get: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer((req, res) => {
      if (req.method === 'GET') return get(req, res);
      if (req.method !== 'POST') return void res.writeHead(200).end();
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: unknown; method?: string };
        if (message.method !== 'initialize') return post(req, res, message);
        const result = { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'streams', version: '1' } };
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'one' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => server.closeAllConnections());
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  }

  async function connect(url: string) {
    const agents = createHttpAgents();
    const upstream = new StreamableHttpUpstream({ name: 'streams', transport: 'streamable-http', url, headers: {}, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' }, agents);
    const received: { id?: unknown; result?: unknown }[] = [];
    const closed: string[] = [];
    upstream.onmessage = (message) => void received.push(message as (typeof received)[number]);
    upstream.onclose = (reason) => void closed.push(reason);
    cleanups.push(() => agents.http.destroy(), () => upstream.close());
    await upstream.start();
    await upstream.send(INITIALIZE);
    return { upstream, received, closed };
  }

  it('reopens only the standalone stream, not one per POST of a response or a notification answered with a stream that ends at once', async () => {
    let gets = 0;
    const url = await serve(
      (_req, res, message) => {
        if (message.method === 'notifications/initialized') return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
      },
      (_req, res) => {
        gets++;
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
      },
    );
    const { upstream, closed } = await connect(url);
    await upstream.send(INITIALIZED);
    // What a server's pings draw from the broker, and notifications of the client's.
    for (let i = 0; i < 25; i++) {
      await upstream.send({ jsonrpc: '2.0', id: `ping-${i}`, result: {} });
      await upstream.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: i, progress: 1 } });
    }
    await expect.poll(() => gets).toBeGreaterThan(0);
    const before = gets;
    await sleep(WINDOW_MS);
    // One loop: an open about every second. With one loop per POST this was near a hundred.
    expect(gets - before).toBeLessThanOrEqual(3);
    expect(closed).toEqual([]);
  });

  it("resumes a request's stream from its last event id until the answer comes, then opens nothing more", async () => {
    const resumedFrom: (string | undefined)[] = [];
    const answer = { jsonrpc: '2.0', id: 7, result: { content: [] } };
    const url = await serve(
      (_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end('id: a1\ndata: \n\n'),
      (req, res) => {
        const from = req.headers['last-event-id'] as string | undefined;
        resumedFrom.push(from);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // The first resumption ends again before the answer (with a new event id), the second carries it.
        res.end(from === 'a1' ? 'id: a2\ndata: \n\n' : `id: a3\ndata: ${JSON.stringify(answer)}\n\n`);
      },
    );
    const { upstream, received, closed } = await connect(url);
    await upstream.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: {} } });
    await expect.poll(() => received.find((m) => m.id === 7)).toEqual(answer);
    await sleep(WINDOW_MS);
    expect(resumedFrom).toEqual(['a1', 'a2']);
    expect(closed).toEqual([]);
  });

  it('reads past an event whose data is not an object on the standalone stream, without dropping the stream', async () => {
    let gets = 0;
    const news = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'after null' } };
    const url = await serve(
      (_req, res) => void res.writeHead(202).end(),
      (_req, res) => {
        gets++;
        // Held open: only a broker that gave up on the stream opens another.
        res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`data: null\n\ndata: [null]\n\ndata: ${JSON.stringify(news)}\n\n`);
      },
    );
    const { upstream, received } = await connect(url);
    await upstream.send(INITIALIZED);
    await expect.poll(() => received.find((m) => (m as { method?: string } | null)?.method === 'notifications/message')).toEqual(news);
    await sleep(WINDOW_MS);
    expect(gets).toBe(1);
  });
});
