import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { GetTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CANCELLED_HOLD_MS, Leg } from '../../broker/core/leg.js';
import type { LegAnswer } from '../../broker/core/leg.js';
import { GrantSet } from '../../broker/grant-set.js';
import type { Upstream } from '../../broker/upstreams/upstream.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { callTool as call } from '../support/tool-call-outcome.js';

/**
 * Security review: a client's `notifications/cancelled` ends the call at once, while its
 * server may still be working on it (MCP 2025-11-25, cancellation: a server SHOULD stop,
 * and need not answer), so calling and cancelling over and over could leave any number of
 * calls running upstream. The call's place under `rateLimits.concurrent` is given back at
 * once (a person who pressed stop goes on), but it counts toward the session's
 * `broker.maxInFlightPerSession` until its server answers, the server or session goes, or
 * CANCELLED_HOLD_MS pass; and a late answer to it is dropped.
 */


/** A task as a server reports it (MCP 2025-11-25, tasks). */
const task = (taskId: string) => ({ taskId, status: 'working', ttl: 60_000, createdAt: '2026-01-01T00:00:00Z', lastUpdatedAt: '2026-01-01T00:00:00Z' });

/**
 * An MCP server over Streamable HTTP (JSON answers) with `hold`, answered only when the test
 * says and with what it says, even once cancelled (a server that answers what it already
 * finished), and `say`; it reports any task asked after (tasks/get) as working.
 */
async function answeringServer(): Promise<{ url: string; answerHeld: (result?: unknown, count?: number) => void; cancelled: () => number; close: () => Promise<void> }> {
  const held: { res: ServerResponse; id: number }[] = [];
  let cancelled = 0;
  const reply = (res: ServerResponse, id: number, result: unknown) =>
    void res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'one' }).end(JSON.stringify({ jsonrpc: '2.0', id, result }));
  const tools = ['hold', 'say'].map((name) => ({ name, inputSchema: { type: 'object' } }));
  const server = createServer((req, res) => {
    if (req.method === 'GET') return void res.writeHead(405).end();
    if (req.method !== 'POST') return void res.writeHead(200).end();
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: number; method: string; params?: { name?: string; taskId?: string } };
      if (message.id === undefined) {
        if (message.method === 'notifications/cancelled') cancelled++;
        return void res.writeHead(202).end();
      }
      if (message.method === 'initialize') return reply(res, message.id, { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'answering', version: '1' } });
      if (message.method === 'tools/list') return reply(res, message.id, { tools });
      if (message.method === 'tasks/get') return reply(res, message.id, task(String(message.params?.taskId)));
      if (message.params?.name === 'hold') return void held.push({ res, id: message.id });
      reply(res, message.id, { content: [{ type: 'text', text: 'hi' }] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    /** Answers the `count` oldest held calls (all by default). */
    answerHeld: (result = { content: [{ type: 'text', text: 'done after all' }] }, count = held.length) => {
      for (const { res, id } of held.splice(0, count)) reply(res, id, result);
    },
    cancelled: () => cancelled,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a cancelled call its server may still run', () => {
  let fx: BrokerFixture;
  let answering: Awaited<ReturnType<typeof answeringServer>>;
  const admitted = async (email: string, server: string, tool: string) =>
    (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.request' && e.actor === email && e.server === server && e.tool === tool && e.outcome === 'SUCCESS').length;
  const refusedByInFlight = { ok: false, code: -32001, data: { reason: 'rate_limited', clause: 'broker.maxInFlightPerSession: 2' } };

  beforeAll(async () => {
    answering = await answeringServer();
    fx = await startBroker({
      overrides: {
        broker: { maxInFlightPerSession: 2 },
        roles: [
          {
            name: 'engineer',
            members: { groups: ['engineering'] },
            request: ['everything', 'answering'].map((server) => ({ server, tools: ['hold', 'say'], maxDurationSeconds: 3600, autoApprove: true })),
          },
        ],
        servers: [
          { ...fixtureServer('everything', 'edge-upstream'), rateLimits: { concurrent: 1 } },
          { name: 'answering', transport: 'streamable-http', url: answering.url },
        ],
      },
    });
  });
  afterAll(async () => {
    await fx.close();
    await answering.close();
  });

  const cancellationsOf = async (email: string) =>
    (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.notification' && e.actor === email && e.data.method === 'notifications/cancelled').length;

  /** `hold` in flight on `client`, then cancelled, the cancellation recorded (so acted on: the broker cancels once it is). */
  async function holdAndCancel(client: Client, email: string, server: string, holds: number): Promise<void> {
    const controller = new AbortController();
    const held = call(client, 'hold', controller.signal);
    await expect.poll(() => admitted(email, server, 'hold')).toBe(holds);
    controller.abort('changed my mind');
    expect(await held).toMatchObject({ ok: false });
    await expect.poll(() => cancellationsOf(email)).toBe(holds);
  }

  /** A person of their own, with `hold` in flight on `server` and then cancelled (the cancellation recorded, so acted on). */
  async function cancelledHold(name: string, server: string): Promise<{ email: string; client: Client }> {
    const email = `${name}@example.com`;
    const person = await fx.signInAs(email);
    await person.grant(['hold', 'say'], 3600, server);
    const { client } = await fx.connect(await person.token(), server);
    await holdAndCancel(client, email, server, 1);
    return { email, client };
  }

  it('gives its place under rateLimits.concurrent back at once, but counts toward the session\'s requests in flight while a server that stops without answering (the MCP SDK) may still run it', async () => {
    const { client } = await cancelledHold('carol', 'everything');
    // concurrent: 1, and the cancelled call no longer holds it.
    expect(await call(client, 'say')).toEqual({ ok: true });
    // A second cancelled call: with the two its server may still run, the session is at its bound of 2.
    await holdAndCancel(client, 'carol@example.com', 'everything', 2);
    expect(await call(client, 'say')).toMatchObject(refusedByInFlight);
    // Another session of hers has a bound of its own.
    const { client: other } = await fx.connect(await (await fx.signInAs('carol@example.com')).token(), 'everything');
    expect(await call(other, 'say')).toEqual({ ok: true });
  });

  it('stops counting the cancelled call once its server answers it, and drops that answer', async () => {
    const { client } = await cancelledHold('dan', 'answering');
    await expect.poll(answering.cancelled).toBeGreaterThan(0);
    await holdAndCancel(client, 'dan@example.com', 'answering', 2);
    expect(await call(client, 'say')).toMatchObject(refusedByInFlight);
    answering.answerHeld();
    await expect.poll(() => call(client, 'say')).toEqual({ ok: true });
  });

  it('makes nothing of a late answer to a cancelled call: a task it creates is not the session\'s, so no grant\'s check is skipped for it', async () => {
    const { client } = await cancelledHold('erin', 'answering');
    await expect.poll(answering.cancelled).toBeGreaterThan(0);
    // A second call in flight: with the cancelled one still counted, the session is at its bound.
    const controller = new AbortController();
    const running = call(client, 'hold', controller.signal);
    await expect.poll(() => admitted('erin@example.com', 'answering', 'hold')).toBe(2);
    expect(await call(client, 'say')).toMatchObject(refusedByInFlight);
    // The server answers the cancelled call late, with a task: the place comes back once that answer arrived.
    answering.answerHeld({ task: task('late-task') }, 1);
    await expect.poll(() => call(client, 'say')).toEqual({ ok: true });
    await expect(client.request({ method: 'tasks/get', params: { taskId: 'late-task' } }, GetTaskResultSchema)).rejects.toMatchObject({ code: -32602, data: { reason: 'unknown_task' } });
    controller.abort('done');
    await running;
  });
});

describe('a request its client cancelled, on the leg to its server', () => {
  const sent: Record<string, unknown>[] = [];
  const upstream: Upstream = { start: async () => {}, send: async (message) => void sent.push(message), close: async () => {} };
  beforeEach(() => {
    sent.length = 0;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => vi.useRealTimers());

  /** How a request stands, once every settled promise had its turn. */
  async function state(answer: Promise<LegAnswer>): Promise<string> {
    let kind = 'pending';
    void answer.then((a) => (kind = a.kind));
    await new Promise((resolve) => setImmediate(resolve));
    return kind;
  }

  it('ends as cancelled at once and tells the server; counted as running there until the server answers, whose answer is dropped (nothing it names is taken up)', async () => {
    const leg = new Leg({ server: 'docs', upstream, grants: new GrantSet([]) });
    const { id, answer } = leg.request('tools/call', { name: 'slow' });
    const released = vi.fn();
    expect(leg.cancel(id, 'changed my mind', released)).toBe(true);
    expect(sent.at(-1)).toEqual({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'changed my mind' } });
    expect(await state(answer)).toBe('cancelled');
    expect(released).not.toHaveBeenCalled();
    expect(leg.answered(id, { kind: 'result', result: { task: { taskId: 'late', status: 'working' } } })).toBe(false);
    expect(released).toHaveBeenCalledTimes(1);
    // Its timer went with it: nothing is left to fire.
    expect(vi.getTimerCount()).toBe(0);
    // A request no longer waiting is not cancelled again.
    expect(leg.cancel(id, undefined, released)).toBe(false);
  });

  it(`stops counting ${CANCELLED_HOLD_MS / 1000} s after its cancellation when the server never answers, and at once when the server leaves`, async () => {
    const leg = new Leg({ server: 'docs', upstream, grants: new GrantSet([]) });
    const silent = leg.request('tools/call', { name: 'slow' });
    const other = leg.request('tools/call', { name: 'slow' });
    const released = vi.fn();
    leg.cancel(silent.id, undefined, released);
    vi.advanceTimersByTime(CANCELLED_HOLD_MS - 1);
    expect(released).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(released).toHaveBeenCalledTimes(1);
    // Its late answer finds nothing waiting, and is dropped.
    expect(leg.answered(silent.id, { kind: 'result', result: {} })).toBe(false);
    expect(released).toHaveBeenCalledTimes(1);

    leg.cancel(other.id, undefined, released);
    leg.drop({ code: -32603, reason: 'upstream_failed', detail: 'gone' });
    expect(released).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
