import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, fixtureServer, startBroker } from '../support/broker-fixture.js';

const EDGE = {
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [{ server: 'everything', tools: ['crash', 'hold', 'add-secret-tool', 'say', 'pid'], maxDurationSeconds: 3600, autoApprove: true }],
    },
  ],
  servers: [
    fixtureServer('everything', 'edge-upstream'),
  ],
};

describe('broker edge cases with a test upstream of our own', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker({ overrides: EDGE });
    await fx.grant(['crash', 'hold', 'add-secret-tool', 'say', 'pid']);
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('closes with 1011 and answers the in-flight call when the upstream crashes', async () => {
    const { client, transport } = await fx.connect(token);
    const call = await client.callTool({ name: 'crash', arguments: {} }).then(
      () => 'completed',
      (error: { code?: number; data?: unknown }) => error,
    );
    expect(call).toMatchObject({ code: -32603, data: { reason: 'upstream_failed' } });
    await expect.poll(() => transport.closeInfo?.code).toBe(1011);
  });

  it('re-filters after tools/list_changed: a tool added upstream stays hidden and uncallable', async () => {
    const { client } = await fx.connect(token);
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    await client.callTool({ name: 'add-secret-tool', arguments: {} });
    await changed;
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('secret_admin');
    await expect(client.callTool({ name: 'secret_admin', arguments: {} })).rejects.toMatchObject({ code: -32001 });
    await client.close();
  });

  it('relays the stateless style (no initialize): requests go straight through', async () => {
    const ws = await fx.raw(token);
    const reply = await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'a1', method: 'tools/call', params: { name: 'say', arguments: { text: 'no handshake' } } }));
    expect(JSON.stringify(reply)).toContain('no handshake');
    ws.close();
  });

  it('reaps the upstream and everything it started when the session ends', async () => {
    const { client } = await fx.connect(token);
    const text = ((await client.callTool({ name: 'pid', arguments: {} })).content as { text: string }[])[0]!.text;
    const { pid, child } = JSON.parse(text) as { pid: number; child: number };
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect([alive(pid), alive(child)]).toEqual([true, true]);
    await client.close();
    await expect.poll(() => [alive(pid), alive(child)], { timeout: 10_000 }).toEqual([false, false]);
  });

  it('drops responses with ids the upstream never asked about', async () => {
    const ws = await fx.raw(token);
    const replies: unknown[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 999, result: { forged: true } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    await expect.poll(() => replies).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
    ws.close();
  });
});
