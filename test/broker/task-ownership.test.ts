import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { answerTo, exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

/**
 * A session reaches only the tasks created in it: a server whose task store every client
 * shares (test/fixtures/shared-task-upstream.ts, holding `t-others` of another client)
 * must not let one person list, read, cancel or hear of another's tasks, on a server's own
 * endpoint as on the federated one.
 */

type Frame = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; data?: { reason?: string } } };

const SERVER = fixtureServer('tasks', 'shared-task-upstream');

/** A broker whose one server is the shared task store; engineers get any of its tools at once. */
const startTaskBroker = () =>
  startBroker({ overrides: selfServed([SERVER]) });

async function initialized(ws: WebSocket): Promise<void> {
  await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
}

function collect(ws: WebSocket): Frame[] {
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  return frames;
}

describe('tasks are the session\'s own', () => {
  let fx: BrokerFixture;
  let token: string;

  beforeAll(async () => {
    fx = await startTaskBroker();
    token = await fx.token();
    await fx.grant(['*'], 600, 'tasks');
  });
  afterAll(() => fx.close());

  it('runs no method but tools/call as a task: the task member of another request is dropped, as MCP has a receiver ignore it', async () => {
    const ws = await fx.raw(token, 'tasks');
    await initialized(ws);
    // The server would run the listing as a task, and its result, fetched later, would be the list unfiltered.
    const listed = (await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list', params: { task: { ttl: 60_000 } } }))) as Frame;
    expect(listed.result?.task).toBeUndefined();
    expect((listed.result?.tools as { name: string }[]).map((t) => t.name)).toContain('make-task');
    ws.close();
  });

  for (const [endpoint, path, prefix] of [
    ['the server\'s own endpoint', 'tasks', ''],
    ['the federated endpoint', '', 'tasks__'],
  ] as const) {
    it(`lists, reads and reports only the session's tasks on ${endpoint}; another's are unknown, and refusals are audited`, async () => {
      const ws = await fx.raw(token, path);
      await initialized(ws);
      const frames = collect(ws);
      const ask = async (id: string, method: string, params: Record<string, unknown>) => {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
        await expect.poll(() => frames.find((f) => f.id === id)).toBeDefined();
        return frames.find((f) => f.id === id)!;
      };
      const made = await ask('make', 'tools/call', { name: `${prefix}make-task`, arguments: {}, task: { ttl: 60_000 } });
      const mine = (made.result!.task as { taskId: string }).taskId;
      expect(mine).toMatch(new RegExp(`^${prefix}t-\\d+$`));
      // The server told of both tasks right after, and logged about both: only what concerns the session's own reaches it.
      await expect.poll(() => frames.filter((f) => f.method === 'notifications/tasks/status').map((f) => f.params!.taskId)).toEqual([mine]);
      await expect.poll(() => frames.filter((f) => f.method === 'notifications/message').map((f) => [f.params!.data, (f.params!._meta as Record<string, { taskId: string }>)['io.modelcontextprotocol/related-task']!.taskId])).toEqual([[expect.stringMatching(/^working on t-\d+$/), mine]]);

      const listed = await ask('list', 'tasks/list', {});
      expect((listed.result!.tasks as { taskId: string }[]).map((t) => t.taskId)).toEqual([mine]);
      expect((await ask('get-mine', 'tasks/get', { taskId: mine })).result).toMatchObject({ taskId: mine, status: 'completed' });
      expect((await ask('result-mine', 'tasks/result', { taskId: mine })).result).toMatchObject({ content: [{ type: 'text' }] });

      for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
        const refused = await ask(`${method}-others`, method, { taskId: `${prefix}t-others` });
        expect(refused.error).toMatchObject({ code: -32602, data: { reason: 'unknown_task' } });
      }
      // A request of any method relating itself to the other task is refused too: with such a server that reaches it.
      const related = (taskId: string) => ({ name: `${prefix}plain`, arguments: {}, _meta: { 'io.modelcontextprotocol/related-task': { taskId } } });
      expect((await ask('related-others', 'tools/call', related(`${prefix}t-others`))).error).toMatchObject({ code: -32602, data: { reason: 'unknown_task' } });
      expect((await ask('related-raw', 'tools/call', related('t-others'))).error).toMatchObject({ code: -32602, data: { reason: 'unknown_task' } });
      // A result relating itself to the other task comes without that relation.
      const plain = (await ask('related-mine', 'tools/call', related(mine))).result!;
      expect(plain).toMatchObject({ content: [{ text: 'done at once' }] });
      expect(plain._meta ?? {}).toEqual({});
      // The client telling of a task it does not run, or relating a notification to another's task: dropped, and audited.
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tasks/status', params: { taskId: 't-others', status: 'cancelled' } }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'x', progress: 1, _meta: { 'io.modelcontextprotocol/related-task': { taskId: `${prefix}t-others` } } } }));
      const dropped = async () => (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.outcome === 'DENIED' && e.data.reason === 'unknown_task' && e.sessionId !== undefined && String(e.data.method).startsWith('notifications/'));
      await expect.poll(async () => (await dropped()).map((e) => e.data.method).sort()).toEqual(expect.arrayContaining(['notifications/progress', 'notifications/tasks/status']));
      // Nothing the server said of the other task, nor its result, reached the client.
      expect(JSON.stringify(frames)).not.toMatch(/the result of t-others/);
      ws.close();

      const denied = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.request' && e.outcome === 'DENIED' && e.data.reason === 'unknown_task');
      expect(denied.map((e) => e.data.method)).toEqual(expect.arrayContaining(['tasks/get', 'tasks/result', 'tasks/cancel', 'tools/call']));
    });

    it(`passes a server's news, requests and results about a task the client runs for it with that relation, on ${endpoint}`, async () => {
      const ws = await fx.raw(token, path);
      const capabilities = { sampling: {}, tasks: { requests: { sampling: { createMessage: {} } } } };
      await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'raw', version: '1' } } }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const frames = collect(ws);
      const related = (frame: Frame | undefined) => (frame?.params ?? frame?.result)?._meta;
      const relation = { 'io.modelcontextprotocol/related-task': { taskId: 'c-1' } };
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'ask', method: 'tools/call', params: { name: `${prefix}ask-client`, arguments: {} } }));

      // The server has the client sample as a task: the client's task is c-1.
      await expect.poll(() => frames.find((f) => f.method === 'sampling/createMessage')).toBeDefined();
      const sampling = frames.find((f) => f.method === 'sampling/createMessage')!;
      expect(sampling.params!.task).toEqual({ ttl: 60_000 });
      const now = new Date().toISOString();
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: sampling.id, result: { task: { taskId: 'c-1', status: 'working', ttl: 60_000, createdAt: now, lastUpdatedAt: now } } }));

      // Its log line and its question about c-1 reach the client still saying which task they concern.
      await expect.poll(() => frames.find((f) => f.method === 'tasks/get')).toBeDefined();
      const asked = frames.find((f) => f.method === 'tasks/get')!;
      expect(asked.params).toEqual({ taskId: 'c-1', _meta: relation });
      expect(related(frames.find((f) => f.method === 'notifications/message'))).toEqual(relation);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: asked.id, result: { taskId: 'c-1', status: 'completed', ttl: 60_000, createdAt: now, lastUpdatedAt: now } }));

      await expect.poll(() => frames.find((f) => f.id === 'ask')).toBeDefined();
      const answer = frames.find((f) => f.id === 'ask')!;
      expect(answer.result).toMatchObject({ content: [{ type: 'text', text: 'c-1 is completed' }] });
      expect(related(answer)).toEqual(relation);
      ws.close();
    });
  }
});

describe('a task\'s grant', () => {
  let fx: BrokerFixture;

  beforeAll(async () => {
    fx = await startTaskBroker();
  });
  afterAll(() => fx.close());

  it('cuts off a task when the grant that let its call go is revoked, while another grant keeps the server: its result is refused, the server told to cancel it', async () => {
    const revoked = await fx.grant(['make-task'], 600, 'tasks');
    await fx.grant(['plain'], 600, 'tasks');
    const ws = await fx.raw(await fx.token(), 'tasks');
    await initialized(ws);
    const made = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'make', method: 'tools/call', params: { name: 'make-task', arguments: { ms: 60_000 }, task: { ttl: 60_000 } } }))) as Frame;
    const taskId = (made.result!.task as { taskId: string }).taskId;
    const frames = collect(ws);
    // Waits at the server until the task ends.
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'result', method: 'tasks/result', params: { taskId } }));
    await expect.poll(async () => (await fx.server.stores.audit.read({ limit: 10_000 })).some((e) => e.type === 'mcp.request' && e.data.method === 'tasks/result')).toBe(true);
    expect((await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }', { id: revoked })).body.errors).toBeUndefined();

    await expect.poll(() => frames.find((f) => f.id === 'result')?.error).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
    const get = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'get', method: 'tasks/get', params: { taskId } }))) as Frame;
    expect(get.error).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
    // The server heard: the task is cancelled there (its listing, which any live grant may read, says so).
    await expect.poll(async () => ((await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: `list-${Date.now()}`, method: 'tasks/list', params: {} }))) as Frame).result!.tasks).toEqual([expect.objectContaining({ taskId, status: 'cancelled' })]);
    // The session stays for the grant left.
    expect(((await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'plain', method: 'tools/call', params: { name: 'plain', arguments: {} } }))) as Frame).result).toBeDefined();
    const cutOff = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.outcome === 'DENIED' && e.data.reason === 'grant_revoked').map((e) => [e.data.method, e.data.inFlight ?? false]);
    expect(cutOff).toEqual(expect.arrayContaining([['tools/call', true], ['tasks/result', true], ['tasks/get', false]]));
    ws.close();
  });

  it('leaves a finished task alone when its grant ends: nothing to cancel, nothing recorded as cut off', async () => {
    const revoked = await fx.grant(['make-task'], 600, 'tasks');
    await fx.grant(['plain'], 600, 'tasks');
    const ws = await fx.raw(await fx.token(), 'tasks');
    await initialized(ws);
    const made = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'make', method: 'tools/call', params: { name: 'make-task', arguments: {}, task: { ttl: 60_000 } } }))) as Frame;
    const taskId = (made.result!.task as { taskId: string }).taskId;
    // Its news (completed) came right after its creation: the broker knows it finished.
    expect(((await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'get', method: 'tasks/get', params: { taskId } }))) as Frame).result).toMatchObject({ status: 'completed' });
    // Another session's tasks (the test before) may have had the same id at their own server process.
    const cutOffs = async () => (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.data.taskId === taskId && e.data.inFlight === true).length;
    const before = await cutOffs();
    expect((await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }', { id: revoked })).body.errors).toBeUndefined();
    // Refused from now on all the same: its result is what the ended grant allowed.
    expect(((await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'result', method: 'tasks/result', params: { taskId } }))) as Frame).error).toMatchObject({ data: { reason: 'grant_revoked' } });
    expect(await cutOffs()).toBe(before);
    ws.close();
  });
});
