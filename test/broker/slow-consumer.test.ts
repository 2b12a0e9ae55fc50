import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';

describe('a client that never reads', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker();
    await fx.grant(['echo']);
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('is cut off once its send buffer fills, while another session carries on', async () => {
    const stalled = await fx.raw(token);
    // Stop reading at the TCP level: the broker's replies pile up in its send buffer.
    (stalled as unknown as { _socket: Socket })._socket.pause();
    const big = 'x'.repeat(512 * 1024);
    for (let id = 1; id <= 40; id++) {
      stalled.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { message: big } } }));
    }
    const { client } = await fx.connect(token);
    await expect
      .poll(async () => (await fx.server.stores.audit.read({ limit: 10_000 })).some((e) => e.type === 'mcp.session.end' && e.data.reason === 'client is not reading (send buffer full)'), { timeout: 15_000 })
      .toBe(true);
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'unaffected' } })).content)).toContain('unaffected');
    await client.close();
    stalled.terminate();
  });
});

describe('an idle client', () => {
  it('is closed with 1000 "idle timeout" after broker.idleTimeoutSeconds without a message', async () => {
    const fx = await startBroker({ overrides: { broker: { idleTimeoutSeconds: 1 } } });
    try {
      await fx.grant(['echo']);
      const { transport } = await fx.connect(await fx.token());
      await expect.poll(() => transport.closeInfo, { timeout: 5000 }).toEqual({ code: 1000, reason: 'idle timeout' });
    } finally {
      await fx.close();
    }
  });
});
