import { createHash } from 'node:crypto';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { AuditEvent } from '../../server/audit/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

/**
 * Security review, the classes met on the MCP endpoints: ill-formed text (1), unbounded
 * names and parameters (7), notifications that look like calls (8), duplicate in-flight
 * ids on the federated endpoint (13), and server-to-client requests left unaudited (14).
 */

const TOOLS = ['say', 'hold', 'notifications-received', 'ask-roots'];
const EDGE = selfServed([fixtureServer('everything', 'edge-upstream')], 3600);
// The escape `\ud800` arrives as a lone surrogate once the frame is parsed.
const LONE = '\\ud800';

describe('the MCP edge', () => {
  let fx: BrokerFixture;
  let token: string;
  const events = async (): Promise<AuditEvent[]> => fx.server.stores.audit.read({ limit: 10_000 });
  const initialized = async (ws: WebSocket) => {
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  };

  beforeAll(async () => {
    fx = await startBroker({ overrides: EDGE });
    await fx.grant(TOOLS);
    token = await fx.token();
  });
  afterAll(() => fx.close());

  describe('ill-formed text (a lone surrogate)', () => {
    it('is refused with -32600 naming where it was, audited as a denial, and fails nobody else\'s call', async () => {
      const others = await Promise.all([1, 2, 3, 4, 5].map(() => fx.connect(token)));
      const attacker = await fx.raw(token);
      await initialized(attacker);
      const bad = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"secret_admin","arguments":{"q":"x${LONE}"}}}`;
      const [reply, ...results] = await Promise.all([
        exchange(attacker, bad),
        ...others.map(({ client }, i) => client.callTool({ name: 'say', arguments: { text: `user ${i}` } })),
        ...Array.from({ length: 20 }, () => new Promise((resolve) => attacker.send(bad, resolve))),
      ]);
      expect(reply).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32600, message: expect.stringMatching(/ill-formed Unicode text .* at params\.arguments\.q/), data: { reason: 'ill_formed_text' } } });
      expect(results.slice(0, 5).map((r) => (r as { content: { text: string }[] }).content[0]!.text)).toEqual(['user 0', 'user 1', 'user 2', 'user 3', 'user 4']);
      const denial = (await events()).find((e) => e.type === 'mcp.request' && e.outcome === 'DENIED' && e.data.reason === 'ill_formed_text');
      expect(denial?.data).toMatchObject({ method: 'tools/call', illFormedText: true, params: { name: 'secret_admin', arguments: { q: 'x\ufffd' } } });
      attacker.close();
      await Promise.all(others.map(({ client }) => client.close()));
    });

    it('in a GraphQL variable is a 400 BAD_USER_INPUT, not an internal error', async () => {
      const res = await fetch(`${fx.server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: fx.cookie },
        body: `{"query":"mutation($n: String!) { createApiToken(name: $n, scopes: [\\"api\\"], ttlSeconds: 60) { token } }","variables":{"n":"laptop${LONE}"}}`,
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ errors: [expect.objectContaining({ message: expect.stringMatching(/ill-formed Unicode text .* at variables\.n/), extensions: { code: 'BAD_USER_INPUT' } })] });
      const query = new URLSearchParams({ query: 'query($n: String) { identityProviders { id } }', variables: `{"n":"x${LONE}"}` });
      const get = await fetch(`${fx.server.url}/graphql?${query}`, { headers: { 'apollo-require-preflight': 'true' } });
      expect(get.status).toBe(400);
    });
  });

  describe('unbounded names and parameters', () => {
    it('refuses a 1,000,000-character tool name before matching it, even under a grant for "*", and audits a bounded name', async () => {
      const everything = await fx.grant(['*']);
      const ws = await fx.raw(token);
      await initialized(ws);
      const name = 'a'.repeat(1_000_000 - 10);
      const reply = await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name, arguments: {} } }));
      await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }', { id: everything });
      expect(reply).toMatchObject({ id: 'long', error: { code: -32001, data: { reason: 'tool_not_granted' } } });
      const event = (await events()).find((e) => e.data.id === 'long');
      expect(event?.tool).toHaveLength(129);
      expect(JSON.stringify(event).length).toBeLessThan(16_384);
      expect(event?.data.paramsTruncated).toMatchObject({ bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      ws.close();
    });

    it('audits large arguments cut to size after redaction: secrets hidden even under a cut key, the hash taken of the redacted whole', async () => {
      const { client } = await fx.connect(token);
      const text = 'z'.repeat(200_000);
      const longKey = `${'k'.repeat(200)}_password`;
      await client.callTool({ name: 'say', arguments: { text, apiKey: 'sk-should-be-redacted', [longKey]: 'hunter2-should-be-redacted' } });
      const event = (await events()).filter((e) => e.type === 'mcp.request' && e.tool === 'say').at(-1)!;
      const args = (event.data.params as { arguments: Record<string, string> }).arguments;
      expect(args.text).toMatch(/^z{512}…\[200000 chars\]$/);
      expect(args.apiKey).toBe('[REDACTED]');
      expect(Object.values(args)).toContain('[REDACTED]');
      expect(JSON.stringify(event)).not.toMatch(/should-be-redacted/);
      const redactedWhole = JSON.stringify({ name: 'say', arguments: { text, apiKey: '[REDACTED]', [longKey]: '[REDACTED]' } });
      expect(event.data.paramsTruncated).toEqual({ bytes: Buffer.byteLength(redactedWhole), sha256: createHash('sha256').update(redactedWhole).digest('hex') });
      await client.close();
    });
  });

  describe('notifications', () => {
    it('passes only notifications/* methods: a "notification" named tools/call is dropped and audited as refused', async () => {
      const ws = await fx.raw(token);
      await initialized(ws);
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'secret_admin', arguments: {} } }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }));
      const reply = (await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'n', method: 'tools/call', params: { name: 'notifications-received', arguments: {} } }))) as {
        result: { content: { text: string }[] };
      };
      const received = JSON.parse(reply.result.content[0]!.text) as string[];
      expect(received).toContain('notifications/roots/list_changed');
      expect(received).not.toContain('tools/call');
      const refused = (await events()).find((e) => e.type === 'mcp.notification' && e.outcome === 'DENIED');
      expect(refused?.data).toMatchObject({ method: 'tools/call', reason: 'not_a_notification' });
      ws.close();
    });
  });

  describe('server-to-client requests', () => {
    it('are audited, and so is the client\'s answer', async () => {
      const { client } = await fx.connect(token, 'everything', { roots: { listChanged: true } });
      client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///srv/docs', name: 'docs' }] }));
      const result = await client.callTool({ name: 'ask-roots', arguments: {} });
      expect((result as { content: { text: string }[] }).content[0]!.text).toContain('file:///srv/docs');
      const exchanged = (await events()).filter((e) => e.type === 'mcp.server_request');
      expect(exchanged.map((e) => [e.data.direction, e.outcome])).toEqual([
        ['request', 'SUCCESS'],
        ['answer', 'SUCCESS'],
      ]);
      expect(exchanged[0]!.data).toMatchObject({ method: 'roots/list' });
      expect(exchanged[1]!.data.id).toEqual(exchanged[0]!.data.id);
      await client.close();
    });
  });

  describe('a client answer with ill-formed text', () => {
    it('is not relayed: the upstream is told at once (no request left waiting) and the refusal is audited', async () => {
      const ws = await fx.raw(token);
      await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { roots: {} }, clientInfo: { name: 'raw', version: '1' } } }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const messages: { id?: unknown; method?: string; error?: unknown; result?: unknown }[] = [];
      ws.on('message', (d) => {
        const message = JSON.parse(d.toString()) as { id: unknown; method?: string };
        messages.push(message);
        if (message.method === 'roots/list') ws.send(`{"jsonrpc":"2.0","id":${JSON.stringify(message.id)},"result":{"roots":[{"uri":"file:///x${LONE}"}]}}`);
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'roots', method: 'tools/call', params: { name: 'ask-roots', arguments: {} } }));
      await expect.poll(() => messages.find((m) => m.id === 'roots')).toMatchObject({ result: { isError: true } });
      const refused = (await events()).find((e) => e.type === 'mcp.server_request' && e.outcome === 'DENIED');
      expect(refused?.data).toMatchObject({ direction: 'answer', reason: 'ill_formed_text', illFormedText: true });
      ws.close();
    });
  });

  describe('the federated endpoint', () => {
    it('refuses a second request with an id already in flight, even when both arrive at once', async () => {
      const ws = await fx.raw(token, '');
      await initialized(ws);
      await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
      const replies: { id: unknown; error?: { data?: { reason?: string } } }[] = [];
      ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
      const call = JSON.stringify({ jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'everything__hold', arguments: {} } });
      ws.send(call);
      ws.send(call);
      await expect.poll(() => replies.filter((r) => r.id === 'dup')).toHaveLength(1);
      expect(replies[0]).toMatchObject({ id: 'dup', error: { data: { reason: 'duplicate_request_id' } } });
      // The upstream saw the call once: a second answer never comes.
      await new Promise((r) => setTimeout(r, 300));
      expect(replies.filter((r) => r.id === 'dup')).toHaveLength(1);
      ws.close();
    });
  });
});
