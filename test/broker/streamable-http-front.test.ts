import { CreateMessageRequestSchema, ListRootsRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { request } from 'node:http';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpSession } from '../../broker/edges/http-session.js';
import type { AuditEvent } from '../../server/audit/types.js';
import type { Stores } from '../../server/stores/types.js';
import type { AdmissionStep, BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { fixtureServer, startBroker, storesWithAdmissionStep } from '../support/broker-fixture.js';
import { BOTH, INITIALIZE, mcpFetch, openSession, sseEvents } from '../support/mcp-http.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "incident over") { status } }';
const EDGE = fixtureServer('edge', 'edge-upstream');
const EVERYTHING = { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] };
/** Anything asked for on either server is granted at once: each test asks for what it needs. */
const OPEN_ROLES = [
  {
    name: 'engineer',
    members: { groups: ['engineering'] },
    request: ['everything', 'edge'].map((server) => ({ server, tools: ['*'], maxDurationSeconds: 3600, autoApprove: true })),
  },
];
const TOOLS_CALL = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

/** POSTs an endless chunked JSON body (no Content-Length) until the broker answers; its status and the bytes sent by then. */
function chunkedPost(url: string, headers: Record<string, string>): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, sent });
      req.destroy();
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (sent < 64 * 1024 * 1024 && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
    };
    req.write('{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"say","arguments":{"text":"');
    pump();
  });
}

/** A call's outcome, whether it succeeded or was refused. */
function settled(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => 'completed',
    (error: unknown) => error,
  );
}

describe('Streamable HTTP endpoints /mcp/:server and /mcp', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { roles: OPEN_ROLES, servers: [EVERYTHING, EDGE], broker: { maxSessionsPerUser: 100 } } });
    await fx.grant(['echo', 'get-sum', 'trigger-long-running-operation', 'trigger-sampling-request'], 3600, 'everything');
    await fx.grant(['say', 'ask-roots', 'add-secret-tool', 'log-every-level', 'hold'], 3600, 'edge');
    token = await fx.token();
  });
  afterAll(() => fx.close());

  describe('over the SDK client', () => {
    it('initializes with a random session id, lists the granted tools, relays a granted call and refuses the rest with -32001', async () => {
      const { client, transport } = await fx.connectHttp(token);
      expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // The reference server offers trigger-sampling-request only to a client that can sample.
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum', 'trigger-long-running-operation']);
      expect(JSON.stringify((await client.callTool({ name: 'get-sum', arguments: { a: 40, b: 2 } })).content)).toContain('42');
      await expect(client.callTool({ name: 'get-env', arguments: {} })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });
      const audit = await fx.server.stores.audit.read({ limit: 1000 });
      const refused = audit.filter((e) => e.type === 'mcp.request' && e.tool === 'get-env').at(-1);
      expect(refused).toMatchObject({ outcome: 'DENIED', data: { reason: 'tool_not_granted' } });
      expect(audit.find((e) => e.type === 'mcp.session.start' && e.sessionId === refused!.sessionId)).toMatchObject({ data: { transport: 'streamable-http' } });
      await client.close();
    });

    it('streams the progress of a long call on its POST before the answer', async () => {
      const { client } = await fx.connectHttp(token);
      const progress: Progress[] = [];
      const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p) });
      expect(JSON.stringify(result.content)).toContain('completed');
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
      await client.close();
    });

    it('carries server requests of the client (sampling, roots) on the GET stream and routes the answers back', async () => {
      const { client } = await fx.connectHttp(token, 'everything', { sampling: {} });
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled words' } }));
      const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } });
      expect(JSON.stringify(sampled.content)).toContain('sampled words');
      await client.close();

      const edge = await fx.connectHttp(token, 'edge', { roots: {} });
      edge.client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
      expect(JSON.stringify((await edge.client.callTool({ name: 'ask-roots', arguments: {} })).content)).toContain('file:///work');
      await edge.client.close();
    });

    it('carries tools/list_changed from the server on the GET stream', async () => {
      const { client } = await fx.connectHttp(token, 'edge');
      const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
      await client.callTool({ name: 'add-secret-tool', arguments: {} });
      await changed;
      await client.close();
    });

    it('federates every granted server at /mcp, namespaced', async () => {
      const { client } = await fx.connectHttp(token, '');
      expect(client.getServerVersion()?.name).toBe('portcullis-federation');
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['edge__say', 'everything__echo']));
      expect(JSON.stringify((await client.callTool({ name: 'edge__say', arguments: { text: 'federated' } })).content)).toContain('federated');
      await expect(client.callTool({ name: 'everything__get-env', arguments: {} })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });
      await client.close();
    });

    it('DELETE ends the session (204), and its id is unknown afterwards (404)', async () => {
      const { client, transport } = await fx.connectHttp(token);
      const session = transport.sessionId!;
      await transport.terminateSession();
      expect((await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'x' }), { token, session })).status).toBe(404);
      const end = (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.session.end').at(-1);
      expect(end).toMatchObject({ data: { reason: 'client ended the session' } });
      await client.close();
    });
  });

  describe('grants', () => {
    it('refuses to open a session on a named server without an active grant (403); the federated one opens, with only the broker tool', async () => {
      const dave = await fx.signInAs('dave@example.com');
      const daveToken = await dave.token();
      const res = await mcpFetch(fx.httpUrl(), INITIALIZE, { token: daveToken });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001 } });
      const { client } = await fx.connectHttp(daveToken, '');
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['portcullis__request_access']);
      await client.close();
    });

    it('revocation answers the in-flight call with -32001 grant_revoked, then the session is gone (404)', async () => {
      const bob = await fx.signInAs('bob@example.com');
      const grantId = await bob.grant(['hold'], 600, 'edge');
      const bobToken = await bob.token();
      const { client, transport } = await fx.connectHttp(bobToken, 'edge');
      const inFlight = settled(client.callTool({ name: 'hold', arguments: {} }));
      await new Promise((r) => setTimeout(r, 200));
      expect((await bob.gql(REVOKE, { id: grantId })).body.data).toEqual({ revokeGrant: { status: 'REVOKED' } });
      expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
      await expect.poll(async () => (await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(2, 'hold'), { token: bobToken, session: transport.sessionId! })).status).toBe(404);
      await client.close();
    });

    it('revocation answers on the POST stream, then ends the GET stream', async () => {
      const frank = await fx.signInAs('frank@example.com');
      const grantId = await frank.grant(['hold'], 600, 'edge');
      const frankToken = await frank.token();
      const session = await openSession(fx.httpUrl('edge'), frankToken);
      const stream = await mcpFetch(fx.httpUrl('edge'), undefined, { token: frankToken, session, accept: 'text/event-stream' });
      const held = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(1, 'hold'), { token: frankToken, session });
      expect(held.headers.get('content-type')).toBe('text/event-stream');
      await new Promise((r) => setTimeout(r, 200));
      await frank.gql(REVOKE, { id: grantId });
      expect(await sseEvents(held, 1)).toMatchObject([{ data: { id: 1, error: { code: -32001, data: { reason: 'grant_revoked' } } } }]);
      // The stream ends (nothing more is read off it) rather than idling open.
      expect(await sseEvents(stream, Infinity)).toEqual([]);
      expect((await mcpFetch(fx.httpUrl('edge'), undefined, { token: frankToken, session })).status).toBe(404);
    });

    it('a federated session drops a revoked server (tools/list_changed on the GET stream) and lives on', async () => {
      const carol = await fx.signInAs('carol@example.com');
      await carol.grant(['echo'], 600, 'everything');
      const edgeGrant = await carol.grant(['say'], 600, 'edge');
      const { client } = await fx.connectHttp(await carol.token(), '');
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['edge__say', 'everything__echo', 'portcullis__request_access']);
      const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
      await carol.gql(REVOKE, { id: edgeGrant });
      await changed;
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['everything__echo', 'portcullis__request_access']);
      await client.close();
    });

    it('a session ends when the token that opened it is revoked', async () => {
      const erin = await fx.signInAs('erin@example.com');
      await erin.grant(['say'], 600, 'edge');
      const erinToken = await erin.token();
      const session = await openSession(fx.httpUrl('edge'), erinToken);
      const tokens = (await erin.gql('{ apiTokens { id } }')).body.data as { apiTokens: { id: string }[] };
      await erin.gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: tokens.apiTokens[0]!.id });
      const end = async () => (await fx.server.stores.audit.read({ limit: 1000 })).some((e) => e.type === 'mcp.session.end' && e.actor === 'erin@example.com');
      await expect.poll(end).toBe(true);
      expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(1, 'say', { text: 'x' }), { token: await erin.token(), session })).status).toBe(404);
    });
  });

  describe('session ids', () => {
    let session: string;
    let bob: BrokerPerson;
    beforeAll(async () => {
      session = await openSession(fx.httpUrl(), token);
      bob = await fx.signInAs('bob@example.com');
      await bob.grant(['echo'], 600, 'everything');
    });

    it('answers a request with a known id and the version header', async () => {
      const res = await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'hi' }), { token, session, accept: 'application/json' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: 1, result: { content: [{ type: 'text', text: 'Echo: hi' }] } });
    });

    it('refuses a request without Mcp-Session-Id (400)', async () => {
      const res = await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'hi' }), { token });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
      expect((await mcpFetch(fx.httpUrl(), undefined, { token })).status).toBe(400);
    });

    it('answers an unknown id, another user\'s, another token of the same user\'s and another endpoint\'s alike: 404', async () => {
      const call = TOOLS_CALL(1, 'echo', { message: 'hi' });
      const unknown = await mcpFetch(fx.httpUrl(), call, { token, session: 'x'.repeat(43) });
      const otherUser = await mcpFetch(fx.httpUrl(), call, { token: await bob.token(), session });
      const otherToken = await mcpFetch(fx.httpUrl(), call, { token: await fx.token(), session });
      const otherEndpoint = await mcpFetch(fx.httpUrl(''), call, { token, session });
      const bodies = await Promise.all([unknown, otherUser, otherToken, otherEndpoint].map(async (r) => [r.status, await r.text()]));
      expect(new Set(bodies.map((b) => JSON.stringify(b)))).toEqual(new Set([JSON.stringify([404, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Session not found' } })])]));
      expect((await mcpFetch(fx.httpUrl(), undefined, { token: await bob.token(), session })).status).toBe(404);
      expect((await mcpFetch(fx.httpUrl(), undefined, { token: await bob.token(), session, method: 'DELETE' })).status).toBe(404);
    });

    it('refuses an unsupported MCP-Protocol-Version (400) and takes a missing one as 2025-03-26', async () => {
      const bad = await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'hi' }), { token, session, headers: { 'mcp-protocol-version': '1999-01-01' } });
      expect(bad.status).toBe(400);
      const res = await fetch(fx.httpUrl(), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session, accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify(TOOLS_CALL(2, 'echo', { message: 'old' })),
      });
      expect(res.status).toBe(200);
    });
  });

  describe('requests and answers', () => {
    let session: string;
    beforeAll(async () => {
      session = await openSession(fx.httpUrl('edge'), token);
    });

    it('answers in JSON a client that accepts only JSON, and notifications and responses with 202', async () => {
      const init = await mcpFetch(fx.httpUrl(), INITIALIZE, { token, accept: 'application/json' });
      expect(init.status).toBe(200);
      expect(init.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await init.json()).toMatchObject({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-11-25' } });
      const id = init.headers.get('mcp-session-id')!;
      const note = await mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', method: 'notifications/initialized' }, { token, session: id });
      expect([note.status, await note.text()]).toEqual([202, '']);
      const answer = await mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', id: 99, result: {} }, { token, session: id });
      expect(answer.status).toBe(202);
      const list = await mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token, session: id, accept: 'application/json' });
      expect((await list.json()) as unknown).toMatchObject({ id: 1, result: { tools: expect.any(Array) } });
    });

    it('answers a quick call in one JSON body even to a client that takes a stream, and streams a call that asked for progress', async () => {
      const quick = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(3, 'say', { text: 'json' }), { token, session });
      expect(quick.headers.get('content-type')).toBe('application/json');
      expect(await quick.json()).toEqual({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'json' }] } });
      const call = TOOLS_CALL(3, 'say', { text: 'sse' });
      const res = await mcpFetch(fx.httpUrl('edge'), { ...call, params: { ...call.params, _meta: { progressToken: 'p3' } } }, { token, session });
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(await sseEvents(res, 1)).toEqual([{ data: { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'sse' }] } } }]);
    });

    it('ends a POST whose only request the client cancelled at once with an empty stream (nothing to answer)', async () => {
      const held = mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(10, 'hold'), { token, session });
      await new Promise((r) => setTimeout(r, 100));
      expect((await mcpFetch(fx.httpUrl('edge'), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 10 } }, { token, session })).status).toBe(202);
      const res = await held;
      expect([res.status, res.headers.get('content-type')]).toEqual([200, 'text/event-stream']);
      expect(await sseEvents(res, Infinity)).toEqual([]);
    });

    it('turns the answer of a slow call into a stream, so keep-alive comments hold the connection open', async () => {
      const held = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(8, 'hold'), { token, session });
      expect(held.headers.get('content-type')).toBe('text/event-stream');
      const cancel = await mcpFetch(fx.httpUrl('edge'), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 8 } }, { token, session });
      expect(cancel.status).toBe(202);
      expect(await sseEvents(held, Infinity)).toEqual([]);
    });

    it('refuses a POST whose Accept names neither JSON nor SSE (406)', async () => {
      expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(4, 'say', { text: 'x' }), { token, session, accept: 'text/html' })).status).toBe(406);
      expect((await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, accept: 'application/json' })).status).toBe(406);
    });

    it('refuses a body that is not application/json (415) and methods other than POST, GET and DELETE (405)', async () => {
      expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(4, 'say', { text: 'x' }), { token, session, headers: { 'content-type': 'text/plain' } })).status).toBe(415);
      const put = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(4, 'say', { text: 'x' }), { token, session, method: 'PUT' });
      expect([put.status, put.headers.get('allow')]).toEqual([405, 'GET, POST, DELETE']);
    });

    it('refuses a second request under an id in flight on its own POST, and ends a POST whose request the client cancelled', async () => {
      const held = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(5, 'hold'), { token, session });
      const duplicate = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(5, 'say', { text: 'again' }), { token, session, accept: 'application/json' });
      expect(await duplicate.json()).toMatchObject({ id: 5, error: { code: -32600, data: { reason: 'duplicate_request_id' } } });
      const cancel = await mcpFetch(fx.httpUrl('edge'), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } }, { token, session });
      expect(cancel.status).toBe(202);
      expect(await sseEvents(held, Infinity)).toEqual([]);
    });

    it('refuses a body that is not JSON with -32700 (400) and batches under 2025-11-25 with -32600', async () => {
      const parse = await mcpFetch(fx.httpUrl('edge'), '{"jsonrpc": "2.0", "id": 1, ', { token, session });
      expect([parse.status, await parse.json()]).toEqual([400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }]);
      const batch = await mcpFetch(fx.httpUrl('edge'), [TOOLS_CALL(5, 'say', { text: 'a' })], { token, session });
      expect([batch.status, ((await batch.json()) as { error: { code: number } }).error.code]).toEqual([400, -32600]);
    });

    it('refuses ill-formed text as the core does on WebSocket: under the request id, audited', async () => {
      const res = await mcpFetch(fx.httpUrl('edge'), '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"say","arguments":{"text":"\\ud800"}}}', { token, session, accept: 'application/json' });
      expect(await res.json()).toMatchObject({ id: 7, error: { code: -32600, data: { reason: 'ill_formed_text' } } });
    });

    it('takes a batch from a 2025-03-26 session and answers it as one', async () => {
      const old = await openSession(fx.httpUrl('edge'), token, '2025-03-26');
      const res = await mcpFetch(fx.httpUrl('edge'), [TOOLS_CALL(1, 'say', { text: 'one' }), { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, TOOLS_CALL(2, 'say', { text: 'two' })], {
        token,
        session: old,
        accept: 'application/json',
        headers: { 'mcp-protocol-version': '2025-03-26' },
      });
      const answers = (await res.json()) as { id: number; result: unknown }[];
      expect(answers.map((a) => a.id).sort()).toEqual([1, 2]);
    });

    it('refuses a body larger than broker.maxFrameBytes (413)', async () => {
      const res = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(8, 'say', { text: 'x'.repeat(1024 * 1024) }), { token, session });
      expect(res.status).toBe(413);
    });

    it('refuses a chunked body once it grows past broker.maxFrameBytes (413), without reading the rest', async () => {
      const { status, sent } = await chunkedPost(fx.httpUrl('edge'), { authorization: `Bearer ${token}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
      expect(status).toBe(413);
      // Refused while the client was still sending: far less than it offered (64 MiB) went out.
      expect(sent).toBeLessThan(64 * 1024 * 1024);
    });

    it.each([
      // A request behind it waits for the connection to close after the refusal, unserved.
      ['a tool call', (path: string, call: string) => `POST ${path} HTTP/1.1\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: ${Buffer.byteLength(call)}`, (e: AuditEvent) => e.type === 'mcp.request' && e.data.id === 77, /HTTP\/1\.1 415 [^]*connection: close/i],
      // An upgrade, which node:http hands over, ends the connection at once.
      ['a WebSocket upgrade', (path: string) => `GET /mcp/ws${path.slice('/mcp'.length)} HTTP/1.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-protocol: mcp`, (e: AuditEvent) => e.type === 'mcp.session.start' && e.data.transport === 'websocket', /^HTTP\/1\.1 200 /],
    ] as const)('serves nothing pipelined behind a refusal that closes the connection (RFC 9112 §9.6): %s', async (_, pipelined, served, answered) => {
      // A GET stream holds the connection's answers, so the refusal behind it is queued, not
      // sent; a POST refused (415) before its body came closes the connection, and node:http
      // still parses what follows: the body, then a request that must not be served unanswered.
      const own = await openSession(fx.httpUrl('edge'), token);
      const url = new URL(fx.httpUrl('edge'));
      const headers = (head: string) => `${head}\r\nhost: ${url.host}\r\nauthorization: Bearer ${token}\r\nmcp-session-id: ${own}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n`;
      const refusedBody = 'x'.repeat(100);
      const call = JSON.stringify(TOOLS_CALL(77, 'say', { text: 'pipelined behind a closing answer' }));
      const before = (await fx.server.stores.audit.read({ limit: 100_000 })).length;
      const ran = async () => (await fx.server.stores.audit.read({ limit: 100_000 })).slice(before).some(served);
      const socket = connect(Number(url.port), '127.0.0.1');
      const closed = new Promise((r) => socket.once('close', r));
      let received = '';
      socket.setEncoding('utf8').on('data', (text: string) => (received += text));
      socket.write(headers(`GET ${url.pathname} HTTP/1.1\r\naccept: text/event-stream`) + headers(`POST ${url.pathname} HTTP/1.1\r\ncontent-type: text/plain\r\naccept: application/json\r\ncontent-length: ${refusedBody.length}`));
      await vi.waitFor(() => expect(received).toMatch(/^HTTP\/1\.1 200 /), { timeout: 5000 });
      // The refusal is decided as its headers are read; the rest of the connection comes after it.
      await new Promise((r) => setTimeout(r, 200));
      socket.write(refusedBody + headers(pipelined(url.pathname, call)) + call);
      // Long enough for it to be served and audited had it been (a few ms here).
      await new Promise((r) => setTimeout(r, 1500));
      expect(await ran()).toBe(false);
      // Ending the session ends the stream: the queued refusal goes out and the connection closes.
      expect((await mcpFetch(fx.httpUrl('edge'), undefined, { token, session: own, method: 'DELETE' })).status).toBe(204);
      await closed;
      expect(received).toMatch(answered);
      expect(received).not.toMatch(/"id":77|101 Switching/);
      expect(await ran()).toBe(false);
    });

    it('refuses a body that is not UTF-8 with -32700, and answers the next request', async () => {
      const bytes = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"say","arguments":{"text":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}}')]);
      const res = await fetch(fx.httpUrl('edge'), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: bytes });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ id: null, error: { code: -32700, message: 'Parse error: the body is not UTF-8' } });
      expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(10, 'say', { text: 'after' }), { token, session, accept: 'application/json' })).status).toBe(200);
    });

    it('keeps what was sent while no GET stream was open for the next one', async () => {
      const quiet = await openSession(fx.httpUrl('edge'), token);
      expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(1, 'log-every-level'), { token, session: quiet, accept: 'application/json' })).status).toBe(200);
      const stream = await mcpFetch(fx.httpUrl('edge'), undefined, { token, session: quiet, accept: 'text/event-stream' });
      expect((await sseEvents(stream, 8)).map((e) => (e.data as { method: string }).method)).toEqual(Array(8).fill('notifications/message'));
    });

    it('replays the GET stream after Last-Event-ID; a new GET takes the place of the open one', async () => {
      const stale = await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, accept: 'text/event-stream' });
      expect(stale.status).toBe(200);
      const first = await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, accept: 'text/event-stream' });
      expect(first.status).toBe(200);
      // The stream it replaced ends: nothing more is sent on it.
      expect(await sseEvents(stale, Infinity)).toEqual([]);
      const logged = await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(9, 'log-every-level'), { token, session, accept: 'application/json' });
      expect(logged.status).toBe(200);
      const events = await sseEvents(first, 8);
      expect(events.map((e) => (e.data as { params: { data: string } }).params.data)).toEqual(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);
      expect(new Set(events.map((e) => e.id)).size).toBe(8);
      const again = await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, headers: { 'last-event-id': events[4]!.id! } });
      expect(again.status).toBe(200);
      const replayed = await sseEvents(again, 3);
      expect(replayed.map((e) => [e.id, (e.data as { params: { data: string } }).params.data])).toEqual(events.slice(5).map((e) => [e.id, (e.data as { params: { data: string } }).params.data]));
    });
  });

  describe('refusals before a session', () => {
    const metadata = `${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/everything`;

    it('challenges a request without a credential (401) with the resource metadata of its endpoint', async () => {
      const res = await mcpFetch(fx.httpUrl(), INITIALIZE);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="portcullis", resource_metadata="${metadata}", scope="mcp"`);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001 } });
      const federated = await mcpFetch(fx.httpUrl(''), INITIALIZE);
      expect(federated.headers.get('www-authenticate')).toBe(`Bearer realm="portcullis", resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp", scope="mcp"`);
    });

    it('says invalid_token for a bad token, and takes no session cookie', async () => {
      const bad = await mcpFetch(fx.httpUrl(), INITIALIZE, { token: 'not-a-token' });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer realm="portcullis", resource_metadata="${metadata}", scope="mcp", error="invalid_token", error_description="[^"]+"$`));
      const cookie = await mcpFetch(fx.httpUrl(), INITIALIZE, { headers: { cookie: fx.cookie } });
      expect(cookie.status).toBe(401);
    });

    it('refuses a credential in the URL (401)', async () => {
      expect((await mcpFetch(`${fx.httpUrl()}?access_token=${token}`, INITIALIZE, { token })).status).toBe(401);
      expect((await mcpFetch(`${fx.httpUrl()}?lang=en&token=${token}`, INITIALIZE, { token })).status).toBe(401);
      // After a second '?', which some proxies and servers read as the query's start.
      expect((await mcpFetch(`${fx.httpUrl()}?lang=en?api_key=${token}`, INITIALIZE, { token })).status).toBe(401);
    });

    it('refuses a token without the mcp scope (403 insufficient_scope)', async () => {
      const res = await mcpFetch(fx.httpUrl(), INITIALIZE, { token: await fx.token(['api']) });
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="portcullis", resource_metadata="[^"]+", scope="mcp", error="insufficient_scope", error_description="[^"]+"$/);
    });

    it('refuses a foreign Origin (403) and takes the public one', async () => {
      expect((await mcpFetch(fx.httpUrl(), INITIALIZE, { token, headers: { origin: 'http://evil.example' } })).status).toBe(403);
      const own = await mcpFetch(fx.httpUrl(), INITIALIZE, { token, accept: 'application/json', headers: { origin: TEST_PUBLIC_URL } });
      expect(own.status).toBe(200);
    });

    it('answers an unknown server with 404 (only to a caller with a credential) and a first POST that is not initialize with 400', async () => {
      expect((await mcpFetch(fx.httpUrl('nope'), INITIALIZE, { token })).status).toBe(404);
      expect((await mcpFetch(fx.httpUrl('nope'), INITIALIZE)).status).toBe(401);
      expect((await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo'), { token })).status).toBe(400);
    });
  });
});

describe('Streamable HTTP session limits', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { broker: { idleTimeoutSeconds: 1, maxSessionsPerUser: 1, keepAliveSeconds: 1 }, server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL, allowedOrigins: ['https://console.example'] } } });
    await fx.grant(['echo']);
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('caps live sessions per user (429), ends an idle session and frees its place', async () => {
    const session = await openSession(fx.httpUrl(), token);
    expect((await mcpFetch(fx.httpUrl(), INITIALIZE, { token })).status).toBe(429);
    // Watched through the audit log: a request would be use, and keep the session alive.
    const ended = async () => (await fx.server.stores.audit.read({ limit: 1000 })).some((e) => e.type === 'mcp.session.end' && (e.data as { reason?: string }).reason === 'idle timeout');
    await expect.poll(ended, { timeout: 5000 }).toBe(true);
    expect((await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'x' }), { token, session })).status).toBe(404);
    await openSession(fx.httpUrl(), token);
  });

  it('keeps a quiet stream open past the idle timeout with a comment every broker.keepAliveSeconds', async () => {
    const bob = await fx.signInAs('bob@example.com');
    await bob.grant(['echo']);
    const bobToken = await bob.token();
    const session = await openSession(fx.httpUrl(), bobToken);
    const stream = await mcpFetch(fx.httpUrl(), undefined, { token: bobToken, session, accept: 'text/event-stream' });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    while (seen.split(': keep-alive\n\n').length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    await reader.cancel();
    // The reference server may have something to say meanwhile (events); the comments come regardless.
    expect(seen.match(/^: keep-alive$/gm)).toHaveLength(2);
    // Two seconds with an open stream and no request: an open stream is use.
    expect((await mcpFetch(fx.httpUrl(), TOOLS_CALL(1, 'echo', { message: 'x' }), { token: bobToken, session, accept: 'application/json' })).status).toBe(200);
  });

  it('refuses a session past broker.maxSessionsPerInstance (503)', async () => {
    const small = await startBroker({ overrides: { broker: { maxSessionsPerInstance: 1 } } });
    try {
      await small.grant(['echo']);
      await openSession(small.httpUrl(), await small.token());
      const bob = await small.signInAs('bob@example.com');
      await bob.grant(['echo']);
      expect((await mcpFetch(small.httpUrl(), INITIALIZE, { token: await bob.token() })).status).toBe(503);
    } finally {
      await small.close();
    }
  });

  it('takes an Origin of server.allowedOrigins', async () => {
    await expect.poll(async () => (await mcpFetch(fx.httpUrl(), INITIALIZE, { token, accept: 'application/json', headers: { origin: 'https://console.example' } })).status, { timeout: 5000 }).toBe(200);
  });

  it('lets only an allowed origin read across origins (CORS): its preflight passes without a credential, never with cookies; no Origin, no CORS headers', async () => {
    const preflight = (origin: string) => fetch(fx.httpUrl(), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' } });
    const allowed = await preflight('https://console.example');
    expect(allowed.status).toBe(204);
    const cors: Record<string, string> = {};
    allowed.headers.forEach((value, name) => {
      if (name.startsWith('access-control-') || name === 'vary') cors[name] = value;
    });
    expect(cors).toEqual({
      'access-control-allow-origin': 'https://console.example',
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, traceparent, tracestate',
      'access-control-expose-headers': 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    // A refusal to an allowed origin is readable there: its challenge leads a browser client to sign in.
    const unauthorized = await mcpFetch(fx.httpUrl(), INITIALIZE, { headers: { origin: 'https://console.example' } });
    expect([unauthorized.status, unauthorized.headers.get('access-control-allow-origin')]).toEqual([401, 'https://console.example']);
    const plain = await mcpFetch(fx.httpUrl(), INITIALIZE, { token, accept: 'application/json' });
    expect([plain.headers.get('access-control-allow-origin'), plain.headers.get('vary'), refused.headers.get('vary')]).toEqual([null, 'Origin', 'Origin']);
    expect((await fetch(fx.httpUrl(), { method: 'OPTIONS' })).status).toBe(405);
  });
});

describe('Streamable HTTP shutdown', () => {
  it('ends HTTP sessions as WebSocket ones: in-flight calls answered broker_shutting_down, session end audited', async () => {
    const fx = await startBroker();
    await fx.grant(['trigger-long-running-operation']);
    const { client } = await fx.connectHttp(await fx.token());
    const inFlight = settled(client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 2 } }));
    await new Promise((r) => setTimeout(r, 200));
    await fx.close();
    expect(await inFlight).toMatchObject({ data: { reason: 'broker_shutting_down' } });
    const end = (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.session.end').at(-1);
    expect(end).toMatchObject({ data: { code: 1001, reason: 'broker shutting down' } });
  });
});

describe('Streamable HTTP sessions that end while they start', () => {
  it('answers initialize with -32001 grant_revoked when the grant is revoked meanwhile, as WebSocket answers calls in flight', async () => {
    const admission = await storesWithAdmissionStep();
    const fx = await startBroker({ stores: admission.stores });
    try {
      const grantId = await fx.grant(['echo']);
      const token = await fx.token();
      admission.meanwhile(() => fx.gql(REVOKE, { id: grantId }));
      await expect(fx.connectHttp(token)).rejects.toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
      expect(admission.pending()).toBe(false);
    } finally {
      await fx.close();
    }
  });

  it('answers initialize with data.reason upstream_failed when the upstream cannot start', async () => {
    const missing = { name: 'everything', transport: 'stdio', command: join(tmpdir(), 'portcullis-no-such-upstream') };
    const fx = await startBroker({ overrides: { servers: [missing] } });
    try {
      await fx.grant(['echo']);
      const res = await mcpFetch(fx.httpUrl(), INITIALIZE, { token: await fx.token(), accept: 'application/json' });
      expect(await res.json()).toMatchObject({ id: 0, error: { code: -32603, data: { reason: 'upstream_failed' } } });
    } finally {
      await fx.close();
    }
  });
});

/** The broker's side of the next request it takes (node:http publishes each one; the broker runs in this process). */
function nextServerResponse(): Promise<ServerResponse> {
  return new Promise((resolve) => {
    const seen = (message: unknown) => {
      unsubscribe('http.server.request.start', seen);
      resolve((message as { response: ServerResponse }).response);
    };
    subscribe('http.server.request.start', seen);
  });
}

/** A request its client gives up on at `leave()`, which resolves once the broker has seen it go (its response closed). */
function leavingRequest(url: string, headers: Record<string, string>, body?: string): { leave: () => Promise<void> } {
  const response = nextServerResponse();
  const req = request(url, { method: body === undefined ? 'GET' : 'POST', headers });
  req.on('error', () => {});
  req.end(body);
  return {
    leave: async () => {
      const res = await response;
      req.destroy();
      if (!res.destroyed) await once(res, 'close');
    },
  };
}

/** Holds the next API token lookup of `stores` (a request's full credential check) until the returned function releases it. */
function pausedTokenLookup(stores: Stores): Promise<() => void> {
  const get = stores.tokens.get.bind(stores.tokens);
  return new Promise((held) => {
    stores.tokens.get = async (id) => {
      stores.tokens.get = get;
      await new Promise<void>((release) => held(release));
      return get(id);
    };
  });
}

describe('Streamable HTTP requests whose client left while they were checked', () => {
  let fx: BrokerFixture;
  let token: string;
  let stores: Stores;
  let admission: AdmissionStep;
  beforeAll(async () => {
    ({ stores, ...admission } = await storesWithAdmissionStep());
    fx = await startBroker({ stores, overrides: { roles: OPEN_ROLES, servers: [EVERYTHING, EDGE], broker: { idleTimeoutSeconds: 1, keepAliveSeconds: 1, maxSessionsPerUser: 1 } } });
    await fx.grant(['log-every-level'], 3600, 'edge');
    token = await fx.token();
  });
  afterAll(() => fx.close());

  /** A GET stream of `session` given up while its credential is checked (a lower-case scheme is no remembered header: the store is asked). */
  const abandonedGet = async (session: string) => {
    const lookup = pausedTokenLookup(stores);
    const get = leavingRequest(fx.httpUrl('edge'), { authorization: `bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
    const release = await lookup;
    await get.leave();
    return release;
  };

  it('a GET stream given up during its credential check does not keep its session alive: it idles out', async () => {
    const session = await openSession(fx.httpUrl('edge'), token);
    (await abandonedGet(session))();
    const ended = async () => (await fx.server.stores.audit.read({ limit: 1000 })).some((e) => e.type === 'mcp.session.end' && (e.data as { reason?: string }).reason === 'idle timeout');
    await expect.poll(ended, { timeout: 5000 }).toBe(true);
    expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(1, 'log-every-level'), { token, session, accept: 'application/json' })).status).toBe(404);
  });

  it('a GET stream given up during its credential check takes nothing: what no stream had goes to the next GET', async () => {
    const session = await openSession(fx.httpUrl('edge'), token);
    const release = await abandonedGet(session);
    expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(1, 'log-every-level'), { token, session, accept: 'application/json' })).status).toBe(200);
    const attach = vi.spyOn(HttpSession.prototype, 'attach');
    try {
      release();
      // The abandoned GET reaches its session before the next one does.
      await vi.waitFor(() => expect(attach).toHaveBeenCalledTimes(1));
    } finally {
      attach.mockRestore();
    }
    const next = await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, accept: 'text/event-stream' });
    expect((await mcpFetch(fx.httpUrl('edge'), TOOLS_CALL(2, 'log-every-level'), { token, session, accept: 'application/json' })).status).toBe(200);
    // The first call's events (ids 1 to 8), replayed, before the second's.
    expect((await sseEvents(next, 8)).slice(0, 8).map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect((await mcpFetch(fx.httpUrl('edge'), undefined, { token, session, method: 'DELETE' })).status).toBe(204);
  });

  it('an initialize given up during its admission opens no session: its place under broker.maxSessionsPerUser goes back', async () => {
    const started = async () => (await fx.server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.session.start').length;
    const before = await started();
    const init = leavingRequest(fx.httpUrl('edge'), { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: BOTH }, JSON.stringify(INITIALIZE));
    await new Promise<void>((left) => admission.meanwhile(() => init.leave().then(left)));
    await expect.poll(async () => (await mcpFetch(fx.httpUrl('edge'), INITIALIZE, { token, accept: 'application/json' })).status, { timeout: 3000 }).toBe(200);
    // The session of that last initialize only.
    expect(await started()).toBe(before + 1);
  });
});
