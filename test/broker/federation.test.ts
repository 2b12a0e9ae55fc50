import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker, upgradeStatus } from '../support/broker-fixture.js';

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
          { name: 'edge', transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', 'test/fixtures/edge-upstream.ts'] },
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
