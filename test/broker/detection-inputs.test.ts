import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { startBroker, upgradeAnswer, upgradeStatus } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';

/**
 * What the broker records for the outlier detector (issue 17) beside its decisions: the
 * size of large tool results (`mcp.response`, for the large-payload rule) and the sessions
 * it refused a caller it knows (`mcp.session.refused`, for probing). Real broker, real
 * MCP reference server, real SDK clients.
 */

const FLOOR = 16_384;

async function eventsOf(fx: BrokerFixture, type: string, actor?: string): Promise<AuditEvent[]> {
  return (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === type && (actor === undefined || e.actor === actor));
}

const echo = (client: Client, message: string) => client.callTool({ name: 'echo', arguments: { message } });

describe('mcp.response', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    // Test brokers run without detection unless asked.
    fx = await startBroker({ overrides: { detection: { enabled: true } } });
    await fx.grant(['echo']);
  });
  afterAll(() => fx.close());

  it('records a tool result of at least resultFloorBytes with its size, and none for a small one', async () => {
    const { client } = await fx.connect(await fx.token());
    await echo(client, 'small');
    const big = 'x'.repeat(FLOOR + 1000);
    await echo(client, big);
    await expect.poll(() => eventsOf(fx, 'mcp.response')).toHaveLength(1);
    const [recorded] = await eventsOf(fx, 'mcp.response');
    const [start] = await eventsOf(fx, 'mcp.session.start', 'alice@example.com');
    const call = (await eventsOf(fx, 'mcp.request', 'alice@example.com')).filter((e) => e.tool === 'echo').at(-1)!;
    expect(recorded).toMatchObject({ outcome: 'SUCCESS', actor: 'alice@example.com', server: 'everything', tool: 'echo', sessionId: start!.sessionId, data: { method: 'tools/call', id: call.data.id, isError: false } });
    // The upstream's own frame: the echoed text and its JSON-RPC envelope.
    expect(recorded!.data.bytes).toBeGreaterThan(big.length);
    expect(recorded!.data.bytes).toBeLessThan(big.length + 200);
    await client.close();
  });
});

describe('mcp.response with the large-payload rule off', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { detection: { enabled: true, rules: { large_payload: { enabled: false } } } } });
    await fx.grant(['echo']);
  });
  afterAll(() => fx.close());

  it('records no result sizes', async () => {
    const { client } = await fx.connect(await fx.token());
    await echo(client, 'x'.repeat(4 * FLOOR));
    await client.close();
    // The session's end is recorded after anything its calls recorded.
    await expect.poll(() => eventsOf(fx, 'mcp.session.end')).toHaveLength(1);
    expect(await eventsOf(fx, 'mcp.response')).toEqual([]);
  });
});

describe('mcp.session.refused', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker();
  });
  afterAll(() => fx.close());

  it('records a signed-in caller refused a session for want of a grant, on both transports, and nothing for a 401', async () => {
    const bob = await fx.signInAs('bob@example.com');
    const token = await bob.token();
    expect(await upgradeStatus(fx.wsUrl(), { authorization: 'Bearer not-a-token' })).toBe(401);
    expect((await mcpFetch(fx.httpUrl(), INITIALIZE, { token: 'not-a-token' })).status).toBe(401);
    expect(await upgradeStatus(fx.wsUrl(), {})).toBe(401);

    expect(await upgradeStatus(fx.wsUrl(), { authorization: `Bearer ${token}` })).toBe(403);
    expect((await mcpFetch(fx.httpUrl(), INITIALIZE, { token })).status).toBe(403);

    const refused = await eventsOf(fx, 'mcp.session.refused');
    expect(refused.map((e) => ({ ...e, data: { ...e.data, clientAddress: String(e.data.clientAddress).replace('::ffff:', '') } }))).toMatchObject([
      { outcome: 'DENIED', actor: 'bob@example.com', server: 'everything', sessionId: null, data: { status: 403, reason: 'no_active_grant', transport: 'websocket', clientAddress: '127.0.0.1' } },
      { outcome: 'DENIED', actor: 'bob@example.com', server: 'everything', sessionId: null, data: { status: 403, reason: 'no_active_grant', transport: 'streamable-http', clientAddress: '127.0.0.1' } },
    ]);
  });

  it('records a token without the mcp scope refused on the WebSocket endpoint, and says which scope in the challenge', async () => {
    const carol = await fx.signInAs('carol@example.com');
    await carol.grant(['echo']);
    expect(await upgradeAnswer(fx.wsUrl(), { authorization: `Bearer ${await carol.token(['api'])}` })).toEqual({
      status: 403,
      challenge: 'Bearer realm="portcullis", error="insufficient_scope", error_description="this token lacks the mcp scope"',
    });
    const [refused] = await eventsOf(fx, 'mcp.session.refused', 'carol@example.com');
    expect(refused).toMatchObject({ server: 'everything', data: { status: 403, reason: 'scope_missing', transport: 'websocket' } });
  });
});
