import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, startBroker, UPSTREAM_SECRET, upgradeStatus } from '../support/broker-fixture.js';

describe('MCP broker over WebSocket, with the reference server behind it', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker();
    await fx.grant(['echo', 'get-sum', 'trigger-long-running-operation']);
    token = await fx.token();
  });
  afterAll(() => fx.close());

  describe('before the upgrade', () => {
    it('answers 401 without a credential, with a bad one, and with a token in the query string', async () => {
      expect(await upgradeStatus(fx.wsUrl(), {})).toBe(401);
      expect(await upgradeStatus(fx.wsUrl(), { authorization: 'Bearer pcl_bad_bad' })).toBe(401);
      expect(await upgradeStatus(`${fx.wsUrl()}?access_token=${token}`, {})).toBe(401);
    });

    it('answers 404 for an unknown server and 400 without the mcp subprotocol', async () => {
      expect(await upgradeStatus(fx.wsUrl('nope'), { authorization: `Bearer ${token}` })).toBe(404);
      expect(await upgradeStatus(fx.wsUrl(), { authorization: `Bearer ${token}` }, 'graphql-transport-ws')).toBe(400);
    });

    it('answers 403 for a token without the mcp scope and for a user without an active grant', async () => {
      expect(await upgradeStatus(fx.wsUrl(), { authorization: `Bearer ${await fx.token(['api'])}` })).toBe(403);
      const other = await startBroker();
      try {
        expect(await upgradeStatus(other.wsUrl(), { authorization: `Bearer ${await other.token()}` })).toBe(403);
      } finally {
        await other.close();
      }
    });
  });

  describe('relaying', () => {
    it('initializes, lists only the granted tools, and calls a granted tool', async () => {
      const { client } = await fx.connect(token);
      expect(client.getServerVersion()?.name).toBeTruthy();
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum', 'trigger-long-running-operation']);
      const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through the broker' } });
      expect(JSON.stringify(result.content)).toContain('hello through the broker');
      await client.close();
    });

    it('answers a call to a tool outside the grant with -32001 tool_not_granted, locally', async () => {
      const { client } = await fx.connect(token);
      const refused = await client.callTool({ name: 'get-env', arguments: {} }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(McpError);
      expect(refused).toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });
      await client.close();
      const denied = (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.request' && e.outcome === 'DENIED');
      expect(denied.at(-1)).toMatchObject({ tool: 'get-env', actor: 'alice@example.com', server: 'everything', data: { method: 'tools/call', reason: 'tool_not_granted' } });
    });

    it('compares tool names exactly: case and look-alike characters do not match', async () => {
      const { client } = await fx.connect(token);
      for (const name of ['Echo', 'echo ', 'еcho']) {
        await expect(client.callTool({ name, arguments: { message: 'x' } })).rejects.toMatchObject({ code: -32001 });
      }
      await client.close();
    });

    it('injects the upstream secret into the upstream only: never in the audit log', async () => {
      const wide = await startBroker();
      try {
        await wide.grant(['echo']);
        const { client } = await wide.connect(await wide.token());
        await client.callTool({ name: 'echo', arguments: { message: 'x', apiKey: 'client-secret-123' } }).catch(() => {});
        await client.close();
        const events = JSON.stringify(await wide.server.stores.audit.read({ limit: 1000 }));
        expect(events).not.toContain(UPSTREAM_SECRET);
        expect(events).not.toContain('client-secret-123');
        expect(events).toContain('"apiKey":"[REDACTED]"');
        expect(wide.server.logs.join('')).not.toContain(UPSTREAM_SECRET);
      } finally {
        await wide.close();
      }
    });

    it('audits the session start and end and every request', async () => {
      const { client } = await fx.connect(token);
      await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
      await client.close();
      await expect
        .poll(async () => (await fx.server.stores.audit.read({ limit: 1000 })).map((e) => e.type))
        .toEqual(expect.arrayContaining(['mcp.session.start', 'mcp.request', 'mcp.notification', 'mcp.session.end']));
      const events = await fx.server.stores.audit.read({ limit: 1000 });
      expect(events.filter((e) => e.type === 'mcp.session.end').at(-1)).toMatchObject({ server: 'everything', data: { clientInfo: { name: 'portcullis-test', version: '1.0.0' }, grants: [expect.any(String)] } });
      const call = events.filter((e) => e.type === 'mcp.request' && e.tool === 'get-sum').at(-1);
      expect(call).toMatchObject({ outcome: 'SUCCESS', data: { method: 'tools/call', params: { name: 'get-sum', arguments: { a: 2, b: 3 } } } });
    });
  });

  describe('client notifications', () => {
    it('are audited with their params (redacted) before they are relayed', async () => {
      const { client } = await fx.connect(token);
      await client.notification({ method: 'notifications/cancelled', params: { requestId: 'none-such', reason: 'user stopped', token: 'nt-secret-1' } });
      const recorded = async () =>
        (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.notification' && (e.data.params as { requestId?: string } | null)?.requestId === 'none-such');
      await expect.poll(async () => (await recorded()).map((e) => [e.outcome, e.server, e.data.params])).toEqual([['SUCCESS', 'everything', { requestId: 'none-such', reason: 'user stopped', token: '[REDACTED]' }]]);
      await client.close();
    });
  });

  describe('malformed input (nothing forwarded)', () => {
    it('answers non-JSON with -32700 and batches or invalid JSON-RPC with -32600, id null', async () => {
      const ws = await fx.raw(token);
      expect(await exchange(ws, 'this is not json')).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
      expect(await exchange(ws, '[{"jsonrpc":"2.0","id":1,"method":"ping"}]')).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await exchange(ws, '{"jsonrpc":"1.0","id":1,"method":"ping"}')).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await exchange(ws, '{"jsonrpc":"2.0","id":2,"method":"ping","extra":true}')).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await exchange(ws, '{"jsonrpc":"2.0","id":3,"method":"ping"}')).toEqual({ jsonrpc: '2.0', id: 3, result: {} });
      ws.close();
    });

    it('refuses a second request with an id that is still in flight', async () => {
      const ws = await fx.raw(token);
      const replies: { id: unknown; result?: unknown; error?: { code: number; data?: unknown } }[] = [];
      ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
      const call = (name: string, args: Record<string, unknown>) => JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } });
      ws.send(call('trigger-long-running-operation', { duration: 1, steps: 1 }));
      ws.send(call('echo', { message: 'same id' }));
      await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(2);
      expect(replies[0]).toMatchObject({ id: 7, error: { code: -32600, data: { reason: 'duplicate_request_id' } } });
      expect(replies[1]).toMatchObject({ id: 7, result: expect.any(Object) });
      ws.close();
    });

    it('closes with 1009 when a frame exceeds the size limit', async () => {
      const ws = await fx.raw(token);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.send('x'.repeat(1024 * 1024 + 1));
      expect(await closed).toBe(1009);
    });
  });
});
