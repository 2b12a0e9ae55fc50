import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { AuditEvent } from '../../server/audit/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { answerTo, exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

/**
 * A tool call run as a task answers at once with the task's creation, and its result comes
 * later, to `tasks/result`: the size the large-payload rule judges is that result's, recorded
 * under the tool the task was made for. Without it, a bulk export run as a task was never
 * measured. Real broker, the shared-task fixture server, a raw client.
 */

type Frame = { id?: unknown; result?: Record<string, unknown> };

const SERVER = fixtureServer('tasks', 'shared-task-upstream');
/** Low enough that both the creation reply and the fixture's result (each under 200 bytes) would be recorded. */
const FLOOR = 16;

async function responses(fx: BrokerFixture): Promise<AuditEvent[]> {
  return (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.response');
}

async function initialized(ws: WebSocket): Promise<void> {
  await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
}

describe('mcp.response for a tool call run as a task', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { ...selfServed([SERVER]), detection: { enabled: true, rules: { large_payload: { resultFloorBytes: FLOOR } } } } });
    await fx.grant(['make-task'], 600, 'tasks');
  });
  afterAll(() => fx.close());

  it('records the tasks/result answer under the tool the task was made for, and not the creation reply', async () => {
    const ws = await fx.raw(await fx.token(), 'tasks');
    await initialized(ws);
    const made = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'make', method: 'tools/call', params: { name: 'make-task', arguments: {}, task: { ttl: 60_000 } } }))) as Frame;
    const taskId = (made.result!.task as { taskId: string }).taskId;
    const result = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'result', method: 'tasks/result', params: { taskId } }))) as Frame;
    expect(result.result).toMatchObject({ content: [{ text: `the result of ${taskId}` }] });

    await expect.poll(async () => (await responses(fx)).length).toBeGreaterThan(0);
    const recorded = await responses(fx);
    expect(recorded).toEqual([expect.objectContaining({ server: 'tasks', tool: 'make-task', data: expect.objectContaining({ method: 'tasks/result', id: 'result', bytes: expect.any(Number), isError: false }) })]);
    // The upstream's own frame: the result's text and its JSON-RPC envelope.
    expect(recorded[0]!.data.bytes).toBeGreaterThan(`the result of ${taskId}`.length);
    ws.close();
  });
});
