import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { AuditEvent } from '../../server/audit/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

const SERVER = fixtureServer('asking', 'asking-upstream');
/** MAX_REQUESTS_OF_CLIENT (broker/core/leg.ts). */
const WAITING = 64;

type Frame = { id?: unknown; method?: string; params?: { _meta?: { n?: number } }; result?: { content: { text: string }[] }; error?: unknown };
/** What `ask-at-once` sends: requests, and cancellations of the last request sent under an id. */
type AtOnce = { id?: string; method: string; params?: Record<string, unknown> } | { cancels: string };
type Outcome = { id: string; result?: unknown; error?: { code: number; message: string; data?: { reason?: string } } };

/** A broker (with `broker` settings) and a raw session to the asking server, initialized with roots; every frame it receives goes to `frames`. */
async function askingSession(broker: Record<string, unknown>, frames: Frame[]): Promise<{ fx: BrokerFixture; ws: WebSocket }> {
  const fx = await startBroker({ overrides: { broker, ...selfServed([SERVER]) } });
  await fx.grant(['*'], 600, 'asking');
  const ws = await fx.raw(await fx.token(), 'asking');
  await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { roots: {} }, clientInfo: { name: 'raw', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  return { fx, ws };
}

/**
 * A server's requests of the client (sampling, elicitation, roots) wait on a person: a
 * server may have only so many waiting, may not reuse an id still waiting, and may ask
 * only what MCP defines for servers (or the operator allows). Before, it could ask without
 * end and anything at all, each kept until the client answered.
 */
describe("a server's requests of the client", () => {
  let fx: BrokerFixture;
  let ws: WebSocket;
  const frames: Frame[] = [];

  beforeAll(async () => {
    ({ fx, ws } = await askingSession({}, frames));
  });
  afterAll(() => fx.close());

  /** Calls `ask-at-once` with `requests`, answers every roots/list the client is asked once `relayed` have come, and returns the server's outcomes. */
  async function askAtOnce(requests: AtOnce[], relayed: number): Promise<Outcome[]> {
    const start = frames.length;
    const asks = () => frames.slice(start).filter((f) => f.method !== undefined && f.id !== undefined);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: `call-${start}`, method: 'tools/call', params: { name: 'ask-at-once', arguments: { requests } } }));
    await expect.poll(() => asks().length).toBe(relayed);
    for (const ask of asks()) ws.send(JSON.stringify({ jsonrpc: '2.0', id: ask.id, result: { roots: [] } }));
    await expect.poll(() => frames.find((f) => f.id === `call-${start}`)).toBeDefined();
    expect(asks()).toHaveLength(relayed);
    return JSON.parse(frames.find((f) => f.id === `call-${start}`)!.result!.content[0]!.text) as Outcome[];
  }

  it(`relays ${WAITING} at once, refuses the rest, an id already waiting and a method MCP does not define for servers, and takes more once answered`, async () => {
    const requests = [{ id: 'twice', method: 'roots/list' }, { id: 'twice', method: 'roots/list' }, { method: 'weird/method' }, ...Array.from({ length: WAITING + 5 }, () => ({ method: 'roots/list' }))];
    const outcomes = await askAtOnce(requests, WAITING);

    const reasons = outcomes.map((o) => (o.result ? 'answered' : (o.error?.data?.reason ?? o.error?.code)));
    expect(reasons.filter((r) => r === 'answered')).toHaveLength(WAITING);
    expect(reasons.filter((r) => r === 'too_many_requests')).toHaveLength(6);
    expect(outcomes.filter((o) => o.id === 'twice').map((o) => o.error?.code ?? 'answered').sort()).toEqual([-32600, 'answered']);
    expect(reasons.filter((r) => r === -32601)).toHaveLength(1);

    // Every place was given back with its answer.
    expect((await askAtOnce([{ method: 'roots/list' }, { method: 'roots/list' }], 2)).every((o) => o.result)).toBe(true);

    const denied = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e: AuditEvent) => e.type === 'mcp.server_request' && e.outcome === 'DENIED');
    expect(denied.map((e) => e.data.reason).sort()).toEqual(['duplicate_request_id', 'method_not_granted', ...Array<string>(6).fill('too_many_requests')]);
  });

  it('relays a request under an id the server cancelled while it was audited and then reused, not the cancelled one', async () => {
    const start = frames.length;
    const requests = [{ id: 'reused', method: 'roots/list', params: { _meta: { n: 1 } } }, { cancels: 'reused' }, { id: 'reused', method: 'roots/list', params: { _meta: { n: 2 } } }];
    expect(await askAtOnce(requests, 1)).toMatchObject([{ id: 'reused', result: { roots: [] } }]);
    expect(frames.slice(start).filter((f) => f.method === 'roots/list').map((f) => f.params?._meta?.n)).toEqual([2]);
  });
});

describe("a server's request the client never answers", () => {
  let fx: BrokerFixture;
  let ws: WebSocket;
  const frames: Frame[] = [];

  beforeAll(async () => {
    ({ fx, ws } = await askingSession({ clientAnswerTimeoutSeconds: 1 }, frames));
  });
  afterAll(() => fx.close());

  it('is given up after broker.clientAnswerTimeoutSeconds: the server hears so, and the client that it is cancelled', async () => {
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'call', method: 'tools/call', params: { name: 'ask-at-once', arguments: { requests: [{ method: 'roots/list' }] } } }));
    await expect.poll(() => frames.find((f) => f.id === 'call')).toBeDefined();
    const asked = frames.find((f) => f.method === 'roots/list')!;
    expect(frames).toContainEqual(expect.objectContaining({ method: 'notifications/cancelled', params: expect.objectContaining({ requestId: asked.id }) }));
    const [outcome] = JSON.parse(frames.find((f) => f.id === 'call')!.result!.content[0]!.text) as Outcome[];
    expect(outcome).toMatchObject({ error: { code: -32603, message: 'the client did not answer within 1 s' } });
  });
});

