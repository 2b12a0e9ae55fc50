import { afterEach, describe, expect, it } from 'vitest';
import { createHttpAgents, StreamableHttpUpstream } from '../../broker/upstreams/streamable-http.js';
import type { HttpAgents } from '../../broker/upstreams/streamable-http.js';
import { startUpstream } from '../support/http-upstream.js';
import type { Upstream } from '../support/http-upstream.js';

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
const callSay = (id: number, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'say', arguments: { text } } });

describe('Streamable HTTP upstream (undici dispatcher client)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function connect(upstream: Upstream, headers: Record<string, string> = {}) {
    const agents: HttpAgents = createHttpAgents();
    const client = new StreamableHttpUpstream({ name: 'docs', transport: 'streamable-http', url: upstream.url, headers, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' }, agents);
    const received: { id?: unknown; result?: unknown; method?: string }[] = [];
    const closed: string[] = [];
    client.onmessage = (m) => void received.push(m as (typeof received)[number]);
    client.onclose = (reason) => void closed.push(reason);
    cleanups.push(
      () => new Promise<void>((resolve) => upstream.server.close(() => resolve())),
      () => {
        agents.http.destroy();
        upstream.server.closeAllConnections();
      },
      () => client.close(),
    );
    await client.start();
    return { client, received, closed };
  }

  for (const mode of ['json', 'sse'] as const) {
    it(`relays a session when the server answers with ${mode === 'json' ? 'JSON' : 'SSE streams'}: session id and negotiated version on later requests, configured headers on every one`, async () => {
      const upstream = await startUpstream(mode);
      const { client, received } = await connect(upstream, { Authorization: 'Bearer upstream-secret' });
      await client.send(INITIALIZE);
      await expect.poll(() => received.find((m) => m.id === 1)).toMatchObject({ result: { protocolVersion: '2025-11-25' } });
      await client.send(INITIALIZED);
      await client.send(callSay(2, 'hello'));
      await expect.poll(() => received.find((m) => m.id === 2)).toMatchObject({ result: { content: [{ type: 'text', text: 'hello' }] } });
      const posts = upstream.requests.filter((r) => r.method === 'POST');
      expect(posts.every((r) => r.headers.authorization === 'Bearer upstream-secret')).toBe(true);
      expect(posts[0]!.headers['mcp-session-id']).toBeUndefined();
      expect(posts.at(-1)!.headers).toMatchObject({ 'mcp-session-id': expect.any(String), 'mcp-protocol-version': '2025-11-25' });
    });
  }

  it('opens the GET stream after notifications/initialized and relays what the server sends on it', async () => {
    const upstream = await startUpstream('json');
    const { client, received } = await connect(upstream);
    await client.send(INITIALIZE);
    await client.send(INITIALIZED);
    await expect.poll(() => upstream.requests.some((r) => r.method === 'GET' && r.headers.accept === 'text/event-stream')).toBe(true);
    // The server announces a change unasked: it can only reach us on the GET stream.
    await expect
      .poll(() => {
        upstream.servers[0]!.sendToolListChanged();
        return received.some((m) => m.method === 'notifications/tools/list_changed');
      })
      .toBe(true);
  });

  it('ends the upstream session with DELETE on close, without calling onclose', async () => {
    const upstream = await startUpstream('sse');
    const { client, closed } = await connect(upstream);
    await client.send(INITIALIZE);
    await client.send(INITIALIZED);
    await client.close();
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'DELETE', headers: { 'mcp-session-id': expect.any(String) } });
    await expect.poll(() => upstream.closedSessions.length).toBe(1);
    expect(closed).toEqual([]);
  });

  it('refuses to follow a redirect (the configured credential must not go elsewhere)', async () => {
    const upstream = await startUpstream('json', true);
    const { client } = await connect(upstream, { Authorization: 'Bearer upstream-secret' });
    await expect(client.send(INITIALIZE)).rejects.toThrow(/HTTP 307/);
    expect(upstream.requests).toHaveLength(1);
  });
});
