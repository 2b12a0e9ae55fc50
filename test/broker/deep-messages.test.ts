import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { answerTo, exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';

const ROGUE = fixtureServer('rogue', 'rogue-upstream', '--deep');
type Frame = { id?: unknown; method?: string; result?: { content?: { text: string }[] }; error?: { code: number; message: string } };

/** Nested `levels` deep, written by hand: JSON.stringify cannot write such a value. */
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/**
 * JSON.parse takes any depth and JSON.stringify throws past a few thousand levels: a
 * message nested that deep, relayed from an event handler, used to end the broker's
 * process and every session on it. Now such a message is refused where it comes in, from
 * a server as from a client, and the session goes on.
 */
describe('messages nested past the bound', () => {
  let fx: BrokerFixture;
  let ws: WebSocket;
  let token: string;

  beforeAll(async () => {
    fx = await startBroker({ overrides: selfServed([ROGUE]) });
    await fx.grant(['*'], 600, 'rogue');
    token = await fx.token();
    ws = await fx.raw(token, 'rogue');
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });
  afterAll(() => fx.close());

  const call = async (id: string, name: string, meta: Record<string, unknown> = {}) =>
    (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, _meta: meta } }))) as Frame;

  it("drops a server's notification nested too deep, and relays its answer after it", async () => {
    const frames: Frame[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
    expect(await call('notify', 'deep-notify')).toMatchObject({ result: { content: [{ text: 'after the deep notification' }] } });
    expect(frames.filter((f) => f.method === 'notifications/message')).toEqual([]);
  });

  it("answers a call whose answer nests too deep with an error, also when the answer waits a turn behind progress", async () => {
    const refused = { error: { code: -32603, message: expect.stringContaining('nests deeper than 128 levels') } };
    expect(await call('answer', 'deep-answer')).toMatchObject(refused);
    expect(await call('answer-with-progress', 'deep-answer', { progressToken: 'p1' })).toMatchObject(refused);
    expect(await call('after', 'fast')).toMatchObject({ result: { content: [{ text: 'fast answer' }] } });
  });

  it("refuses a server's request of the client nested too deep, to the server, which hears why, and records it", async () => {
    const outcome = JSON.parse((await call('ask', 'deep-ask')).result!.content![0]!.text) as unknown;
    expect(outcome).toMatchObject({ error: { code: -32600, message: 'Invalid Request: nested deeper than 128 levels' } });
    const asked = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.server_request' && e.server === 'rogue');
    expect(asked).toMatchObject([{ outcome: 'DENIED', data: { direction: 'request', method: 'roots/list', params: null, reason: 'nested_too_deep' } }]);
  });

  it("refuses a client's message nested too deep, on both doors, and the session goes on", async () => {
    const deepCall = `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"fast","arguments":{"v":${nested(100_000)}}}}`;
    expect(await exchange(ws, deepCall)).toMatchObject({ id: null, error: { code: -32600, message: 'Invalid Request: nested deeper than 128 levels' } });
    expect(await call('still', 'fast')).toMatchObject({ result: { content: [{ text: 'fast answer' }] } });

    // A session of the version that still batches, so the batch is read as one.
    const http = await mcpFetch(fx.httpUrl('rogue'), { ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2025-03-26' } }, { token });
    const session = http.headers.get('mcp-session-id')!;
    for (const body of [deepCall, `[${deepCall}]`]) {
      const refused = await fetch(fx.httpUrl('rogue'), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' },
        body,
      });
      expect({ status: refused.status, body: await refused.json() }).toMatchObject({ status: 400, body: { error: { code: -32600, message: 'Invalid Request: nested deeper than 128 levels' } } });
    }
  });

  it('takes a message nested up to the bound', async () => {
    const within = `{"jsonrpc":"2.0","id":"within","method":"tools/call","params":{"name":"fast","arguments":{"v":${nested(124)}}}}`;
    expect(await answerTo(ws, within)).toMatchObject({ id: 'within', result: { content: [{ text: 'fast answer' }] } });
  });
});
