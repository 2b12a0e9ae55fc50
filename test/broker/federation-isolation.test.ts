import { LoggingMessageNotificationSchema, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, startBroker } from '../support/broker-fixture.js';

/**
 * Issue 13: servers in one federated session stay apart, and misbehaving servers do not
 * reach the client or each other: a late answer to a cancelled request, progress under
 * tokens a server was never given, a server asking the client about tasks it does not own,
 * a server that refuses to start its session, a cancelled fan-out.
 */

const tsx = (file: string, ...args: string[]) => ({ transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', file, ...args] });
const SERVERS = [
  { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] },
  { name: 'rogue', ...tsx('test/fixtures/rogue-upstream.ts') },
  { name: 'slowlist', ...tsx('test/fixtures/rogue-upstream.ts', '--slow-list') },
  { name: 'refuser', ...tsx('test/fixtures/rogue-upstream.ts', '--refuse-initialize') },
  { name: 'edge', ...tsx('test/fixtures/edge-upstream.ts') },
  { name: 'paged', ...tsx('test/fixtures/paged-upstream.ts') },
];

async function initialized(ws: WebSocket): Promise<unknown> {
  const answer = await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  return answer;
}

function collect(ws: WebSocket): { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown }[] {
  const frames: { id?: unknown }[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  return frames;
}

describe('servers in one federated session stay apart', () => {
  let fx: BrokerFixture;
  let token: string;
  const grants: Record<string, string> = {};
  const grantOnly = async (...servers: string[]) => {
    for (const [server, id] of Object.entries(grants)) {
      if (!servers.includes(server)) {
        await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "next test") { status } }', { id });
        delete grants[server];
      }
    }
    for (const server of servers) grants[server] ??= await fx.grant(['*'], 600, server);
  };

  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: SERVERS.map((s) => ({ server: s.name, tools: ['*'], resources: ['*'], prompts: ['*'], maxDurationSeconds: 600, autoApprove: true })) }],
        servers: SERVERS,
      },
    });
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('drops the late answer of a cancelled request that a server sends anyway, and frees the id', async () => {
    await grantOnly('rogue');
    for (const path of ['rogue', '']) {
      const ws = await fx.raw(token, path);
      await initialized(ws);
      const prefix = path === '' ? 'rogue__' : '';
      if (prefix) await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
      const frames = collect(ws);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: `${prefix}slow`, arguments: { ms: 400 } } }));
      await new Promise((r) => setTimeout(r, 100));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: `${prefix}fast`, arguments: {} } }));
      await new Promise((r) => setTimeout(r, 900));
      expect(frames.filter((f) => f.id === 9)).toEqual([expect.objectContaining({ result: { content: [{ type: 'text', text: 'fast answer' }] } })]);
      ws.close();
    }
  });

  it('passes progress only from the server that was asked, under the client\'s own token', async () => {
    await grantOnly('rogue', 'everything');
    const ws = await fx.raw(token, '');
    await initialized(ws);
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
    const frames = collect(ws);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 3 }, _meta: { progressToken: 'mine' } } }));
    // The broker's tokens are small and guessable on purpose here: the rogue tries them all.
    const guesses = [...Array.from({ length: 20 }, (_, i) => `p${i}`), 'mine', ...Array.from({ length: 20 }, (_, i) => i)];
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'forge', method: 'tools/call', params: { name: 'rogue__forge-progress', arguments: { tokens: guesses } } }));
    await expect.poll(() => frames.find((f) => f.id === 'long')).toBeDefined();
    const progress = frames.filter((f) => f.method === 'notifications/progress').map((f) => f.params);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p?.progressToken === 'mine' && p.total === 3)).toBe(true);
    ws.close();
  });

  it('refuses a server asking the client about a task that is not its own, and audits it', async () => {
    await grantOnly('rogue', 'everything');
    const ws = await fx.raw(token, '');
    await initialized(ws);
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
    const frames = collect(ws);
    for (const [id, method] of [['get', 'tasks/get'], ['listing', 'tasks/list']] as const) {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'rogue__ask-client', arguments: { method, params: { taskId: 'someone-elses' } } } }));
    }
    await expect.poll(() => frames.filter((f) => f.id === 'get' || f.id === 'listing')).toHaveLength(2);
    expect(frames.some((f) => typeof f.method === 'string' && f.method.startsWith('tasks/'))).toBe(false);
    expect(JSON.stringify(frames.find((f) => f.id === 'get'))).toMatch(/-32602/);
    const refused = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.server_request' && e.outcome === 'DENIED');
    expect(refused.map((e) => [e.server, e.data.method, e.data.reason])).toEqual(
      expect.arrayContaining([
        ['rogue', 'tasks/get', 'unknown_task'],
        ['rogue', 'tasks/list', 'not_relayed_by_federation'],
      ]),
    );
    ws.close();
  });

  it('leaves out a server that refuses its session and goes on with the others (no grant-ended close)', async () => {
    await grantOnly('refuser', 'everything');
    const { client, transport } = await fx.connect(token, '');
    expect(client.getInstructions()).toMatch(/Servers behind this Portcullis session: everything\./);
    expect((await client.listTools()).tools.every((t) => t.name.startsWith('everything__'))).toBe(true);
    expect(transport.closeInfo).toBeUndefined();
    await client.close();
  });

  it('cancels a fan-out: the client hears nothing more of it, and its id is free', async () => {
    await grantOnly('slowlist', 'rogue');
    const ws = await fx.raw(token, '');
    await initialized(ws);
    const frames = collect(ws);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'fan', method: 'tools/list' }));
    await new Promise((r) => setTimeout(r, 200));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'fan' } }));
    await new Promise((r) => setTimeout(r, 1500));
    expect(frames.filter((f) => f.id === 'fan')).toEqual([]);
    expect(await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'fan', method: 'ping' }))).toEqual({ jsonrpc: '2.0', id: 'fan', result: {} });
    ws.close();
  });

  it('tells the client every list that changed when a server leaves', async () => {
    await grantOnly('paged', 'everything');
    const { client } = await fx.connect(token, '');
    const heard = new Set<string>();
    for (const [schema, name] of [
      [ToolListChangedNotificationSchema, 'tools'],
      [PromptListChangedNotificationSchema, 'prompts'],
      [ResourceListChangedNotificationSchema, 'resources'],
    ] as const) {
      client.setNotificationHandler(schema, () => void heard.add(name));
    }
    await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "leave") { status } }', { id: grants.paged });
    delete grants.paged;
    await expect.poll(() => [...heard].sort()).toEqual(['prompts', 'resources', 'tools']);
    expect((await client.listPrompts()).prompts.every((p) => p.name.startsWith('everything__'))).toBe(true);
    await client.close();
  });

  it('sends the log level to every server that logs, and tags their messages with the server', async () => {
    await grantOnly('edge', 'everything');
    const { client } = await fx.connect(token, '');
    const logs: { level: string; logger?: string }[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    await client.setLoggingLevel('error');
    await client.callTool({ name: 'edge__log-every-level', arguments: {} });
    await expect.poll(() => logs.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(logs.every((l) => ['error', 'critical', 'alert', 'emergency'].includes(l.level))).toBe(true);
    expect(logs.every((l) => l.logger === 'edge' || l.logger?.startsWith('edge/'))).toBe(true);
    await client.close();
  });
});
