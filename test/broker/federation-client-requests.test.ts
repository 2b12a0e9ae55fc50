import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, startBroker } from '../support/broker-fixture.js';

/**
 * What servers ask of the client in a federated session stays each server's own: no
 * server has the client sample with the context of the whole federation (another server's
 * data among it), no elicitation reaches the person without the name of the server asking,
 * and no server completes another's URL-mode elicitation. A server's own endpoint relays
 * all of it as the server sent it.
 */

type Frame = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string } };

const asking = (name: string) => ({ name, transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', 'test/fixtures/asking-upstream.ts'] });
const CAPABILITIES = { sampling: { context: {}, tools: {} }, elicitation: { form: {}, url: {} } };
const SAMPLE = { messages: [{ role: 'user', content: { type: 'text', text: 'summarise' } }], maxTokens: 10, includeContext: 'allServers' };
const FORM = { mode: 'form', message: 'Your password for B?', requestedSchema: { type: 'object', properties: { password: { type: 'string' } } } };

/** A raw session on `path` ('' federated), initialized with a client that can sample with context and elicit. */
async function session(fx: BrokerFixture, token: string, path: string) {
  const ws: WebSocket = await fx.raw(token, path);
  await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: CAPABILITIES, clientInfo: { name: 'raw', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  let calls = 0;
  /** Calls a tool; resolves with its answer once it came. */
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<Frame> => {
    const id = `call-${++calls}`;
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }));
    await expect.poll(() => frames.find((f) => f.id === id)).toBeDefined();
    return frames.find((f) => f.id === id)!;
  };
  /** The next request of `method` the client is asked, answered with `result`. */
  const answer = async (method: string, result: Record<string, unknown>): Promise<Frame> => {
    await expect.poll(() => frames.find((f) => f.method === method && f.id !== undefined)).toBeDefined();
    const request = frames.splice(frames.findIndex((f) => f.method === method && f.id !== undefined), 1)[0]!;
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }));
    return request;
  };
  const outcomes = (frame: Frame) => JSON.parse((frame.result!.content as { text: string }[])[0]!.text) as unknown;
  return { ws, frames, call, answer, outcomes };
}

describe('requests servers make of the client in a federated session', () => {
  let fx: BrokerFixture;
  let token: string;

  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: ['a', 'b'].map((server) => ({ server, tools: ['*'], maxDurationSeconds: 600, autoApprove: true })) }],
        servers: [asking('a'), asking('b')],
      },
    });
    token = await fx.token();
    await fx.grant(['*'], 600, 'a');
    await fx.grant(['*'], 600, 'b');
  });
  afterAll(() => fx.close());

  it('does not tell servers the client can sample with context, and has sampling ask for none', async () => {
    const { ws, call, answer, outcomes } = await session(fx, token, '');
    const told = outcomes(await call('a__initialize-params')) as { capabilities: Record<string, unknown> };
    expect(told.capabilities).toEqual({ sampling: { tools: {} }, elicitation: { form: {}, url: {} } });

    const asked = call('a__ask', { requests: [{ method: 'sampling/createMessage', params: SAMPLE }] });
    const sampling = await answer('sampling/createMessage', { role: 'assistant', content: { type: 'text', text: 'ok' }, model: 'm' });
    expect(sampling.params).toEqual({ ...SAMPLE, includeContext: 'none' });
    expect(outcomes(await asked)).toEqual([{ result: expect.objectContaining({ model: 'm' }) }]);
    ws.close();
  });

  it("names the server an elicitation comes from", async () => {
    const { ws, call, answer } = await session(fx, token, '');
    const asked = call('a__ask', { requests: [{ method: 'elicitation/create', params: FORM }] });
    const elicitation = await answer('elicitation/create', { action: 'decline' });
    expect(elicitation.params).toEqual({ ...FORM, message: '[a] Your password for B?' });
    await asked;
    ws.close();
  });

  it("drops a server's completion of another server's URL-mode elicitation, and refuses it that elicitation's id", async () => {
    const { ws, frames, call, answer, outcomes } = await session(fx, token, '');
    const url = { mode: 'url', elicitationId: 'e-b', url: 'https://b.example.com/consent', message: 'Grant B access' };
    const asked = call('b__ask', { requests: [{ method: 'elicitation/create', params: url }] });
    await answer('elicitation/create', { action: 'accept' });
    await asked;

    const complete = { method: 'notifications/elicitation/complete', params: { elicitationId: 'e-b' } };
    // A server's notification reaches the client before the answer to the call that made it send it.
    await call('a__notify', complete);
    expect(frames.filter((f) => f.method === 'notifications/elicitation/complete')).toEqual([]);
    expect(outcomes(await call('a__ask', { requests: [{ method: 'elicitation/create', params: { ...url, url: 'https://a.example.com/phish' } }] }))).toEqual([
      { error: expect.objectContaining({ code: -32602 }) },
    ]);

    await call('b__notify', complete);
    expect(frames.filter((f) => f.method === 'notifications/elicitation/complete').map((f) => f.params)).toEqual([{ elicitationId: 'e-b' }]);
    // Completed once: B's id is nobody's any more.
    await call('b__notify', complete);
    expect(frames.filter((f) => f.method === 'notifications/elicitation/complete')).toHaveLength(1);

    // An elicitation a server requires through -32042 is its own too.
    expect((await call('a__require-url', { elicitationId: 'e-a' })).error).toMatchObject({ code: -32042 });
    await call('b__notify', { ...complete, params: { elicitationId: 'e-a' } });
    await call('a__notify', { ...complete, params: { elicitationId: 'e-a' } });
    expect(frames.filter((f) => f.method === 'notifications/elicitation/complete').map((f) => f.params)).toEqual([{ elicitationId: 'e-b' }, { elicitationId: 'e-a' }]);
    ws.close();
  });

  it("relays all of it as the server sent it on the server's own endpoint", async () => {
    const { ws, frames, call, answer, outcomes } = await session(fx, token, 'a');
    expect((outcomes(await call('initialize-params')) as { capabilities: unknown }).capabilities).toEqual(CAPABILITIES);
    const asked = call('ask', { requests: [{ method: 'sampling/createMessage', params: SAMPLE }, { method: 'elicitation/create', params: FORM }] });
    expect((await answer('sampling/createMessage', { role: 'assistant', content: { type: 'text', text: 'ok' }, model: 'm' })).params).toEqual(SAMPLE);
    expect((await answer('elicitation/create', { action: 'decline' })).params).toEqual(FORM);
    await asked;
    await call('notify', { method: 'notifications/elicitation/complete', params: { elicitationId: 'never-asked' } });
    expect(frames.filter((f) => f.method === 'notifications/elicitation/complete').map((f) => f.params)).toEqual([{ elicitationId: 'never-asked' }]);
    ws.close();
  });
});
