import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, fixtureServer, selfServed, startBroker, upgradeStatus } from '../support/broker-fixture.js';

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }';

describe('federated endpoint /mcp/ws', () => {
  let fx: BrokerFixture;
  let token: string;
  let edgeGrant: string;
  let everythingGrant: string;
  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [
          {
            name: 'engineer',
            members: { groups: ['engineering'] },
            request: [
              { server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 600, autoApprove: true },
              { server: 'edge', tools: ['say', 'hold'], maxDurationSeconds: 600, autoApprove: true },
            ],
          },
        ],
        servers: [
          { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] },
          fixtureServer('edge', 'edge-upstream'),
          { name: 'unused', transport: 'stdio', command: 'false' },
        ],
      },
    });
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('refuses with 403 while the caller holds no grant at all', async () => {
    expect(await upgradeStatus(`${fx.server.wsUrl}/mcp/ws`, { authorization: `Bearer ${token}` })).toBe(403);
  });

  it('lists the granted tools of every granted server, namespaced, and routes calls by lookup', async () => {
    everythingGrant = await fx.grant(['echo'], 600, 'everything');
    edgeGrant = await fx.grant(['say', 'hold'], 600, 'edge');
    const { client } = await fx.connect(token, '');
    expect(client.getServerVersion()?.name).toBe('portcullis-federation');
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['edge__hold', 'edge__say', 'everything__echo']);
    expect(JSON.stringify((await client.callTool({ name: 'edge__say', arguments: { text: 'from edge' } })).content)).toContain('from edge');
    expect(JSON.stringify((await client.callTool({ name: 'everything__echo', arguments: { message: 'from everything' } })).content)).toContain('from everything');
    for (const name of ['everything__get-sum', 'edge__crash', 'say', 'edge_say', 'unused__x']) {
      await expect(client.callTool({ name, arguments: {} })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });
    }
    const audit = (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.request' && e.tool === 'say' && e.outcome === 'SUCCESS').at(-1);
    expect(audit).toMatchObject({ server: 'edge', data: { federatedName: 'edge__say' } });
    // A notification names the servers it went to.
    const initialized = (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.notification' && e.data.method === 'notifications/initialized').at(-1);
    expect((initialized?.data.servers as string[] | undefined)?.sort()).toEqual(['edge', 'everything']);
    await client.close();
  });

  it('drops a server whose grant is revoked (tools/list_changed, in-flight answered) and closes with 4403 when none is left', async () => {
    const { client, transport } = await fx.connect(token, '');
    await client.listTools();
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    const held = client.callTool({ name: 'edge__hold', arguments: {} }).then(
      () => 'completed',
      (error: { code?: number; data?: unknown }) => error,
    );
    await new Promise((r) => setTimeout(r, 100));
    await fx.gql(REVOKE, { id: edgeGrant });
    expect(await held).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
    await changed;
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['everything__echo']);
    await fx.gql(REVOKE, { id: everythingGrant });
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
  });
});

describe('federation covers the protocol', () => {
  let fx: BrokerFixture;
  let token: string;
  const servers = [
    { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] },
    { ...fixtureServer('edge', 'edge-upstream'), allowMethods: ['edge/custom'] },
    fixtureServer('paged', 'paged-upstream'),
  ];
  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: servers.map((s) => ({ server: s.name, tools: ['*'], resources: ['*'], prompts: ['*'], maxDurationSeconds: 600, autoApprove: true })) }],
        servers,
      },
    });
    token = await fx.token();
    await fx.grant(['*'], 600, 'paged');
  });
  afterAll(() => fx.close());

  it('offers only the capabilities some granted server has', async () => {
    const { client } = await fx.connect(token, '');
    expect(Object.keys(client.getServerCapabilities() ?? {}).sort()).toEqual(['prompts', 'resources', 'tools']);
    await client.close();
  });

  it('pages every server at once under one opaque cursor, each server from its own position', async () => {
    await fx.grant(['echo', 'get-sum'], 600, 'everything');
    const { client } = await fx.connect(token, '');
    const first = await client.listTools();
    expect(first.tools.map((t) => t.name).sort()).toEqual(['everything__echo', 'everything__get-sum', 'paged__echo', 'paged__paged-a']);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await client.listTools({ cursor: first.nextCursor });
    expect(second.tools.map((t) => t.name)).toEqual(['paged__paged-b', 'paged__paged-c']);
    const third = await client.listTools({ cursor: second.nextCursor });
    expect(third).toEqual({ tools: [expect.objectContaining({ name: 'paged__paged-d' })] });
    await expect(client.listTools({ cursor: 'not-ours' })).rejects.toMatchObject({ code: -32602 });
    const resources = await client.listResources();
    expect(resources.resources.map((r) => r.uri)).toEqual(expect.arrayContaining(['portcullis://paged/paged://item/1', 'portcullis://paged/paged://item/2']));
    await client.close();
  });

  it('keeps same-named tools, prompts and resources of different servers apart, both ways', async () => {
    const { client } = await fx.connect(token, '');
    expect(JSON.stringify((await client.callTool({ name: 'paged__echo', arguments: { message: 'x' } })).content)).toContain('paged echo: x');
    expect(JSON.stringify((await client.callTool({ name: 'everything__echo', arguments: { message: 'y' } })).content)).toContain('Echo: y');
    expect(JSON.stringify(await client.getPrompt({ name: 'paged__simple-prompt' }))).toContain('paged prompt simple-prompt');
    expect((await client.readResource({ uri: 'portcullis://paged/paged://item/3' })).contents).toEqual([{ uri: 'portcullis://paged/paged://item/3', mimeType: 'text/plain', text: 'paged content of paged://item/3' }]);
    await expect(client.readResource({ uri: 'paged://item/3' })).rejects.toMatchObject({ code: -32602 });
    await expect(client.readResource({ uri: 'portcullis://unused/paged://item/3' })).rejects.toMatchObject({ code: -32602 });
    await client.close();
  });

  it('finds a tool it never listed (a client that reconnected) by listing the servers again, not by splitting its name', async () => {
    const { client } = await fx.connect(token, '');
    expect(JSON.stringify((await client.callTool({ name: 'paged__paged-d', arguments: { message: 'z' } })).content)).toContain('paged paged-d: z');
    await client.close();
  });

  it('refuses a method MCP does not define, and says why one a server allows names no server it could be routed to', async () => {
    await fx.grant(['say'], 600, 'edge');
    const ws = await fx.raw(token, '');
    expect(await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'custom/thing', params: {} }))).toMatchObject({
      id: 1,
      error: { code: -32001, message: expect.stringMatching(/not an MCP method/), data: { reason: 'method_not_granted', clause: 'unknown_method' } },
    });
    expect(await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'edge/custom', params: {} }))).toMatchObject({
      id: 2,
      error: { code: -32601, message: expect.stringMatching(/names no server/), data: { reason: 'method_not_federated' } },
    });
    ws.close();
  });
});

describe('cancellation frees the id on every endpoint', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker({ overrides: selfServed([fixtureServer('edge', 'edge-upstream')]) });
    await fx.grant(['*'], 600, 'edge');
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it.each([
    ['single-server', 'edge', ''],
    ['federated', '', 'edge__'],
  ])('%s: a cancelled id is free again at once, the server is told, and its late answer never arrives', async (_name, path, prefix) => {
    const ws = await fx.raw(token, path);
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    if (prefix) await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
    const replies: { id?: unknown; result?: { content: { text: string }[] }; error?: unknown }[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: `${prefix}hold`, arguments: {} } }));
    await new Promise((r) => setTimeout(r, 200));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, reason: 'changed my mind' } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: `${prefix}holds-cancelled`, arguments: {} } }));
    await expect.poll(() => replies.filter((r) => r.id === 5)).toHaveLength(1);
    expect(replies.find((r) => r.id === 5)).toMatchObject({ result: { content: [{ text: '1' }] } });
    await new Promise((r) => setTimeout(r, 300));
    expect(replies.filter((r) => r.id === 5)).toHaveLength(1);
    ws.close();
  });
});
