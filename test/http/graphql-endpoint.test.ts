import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeOverWs, graphqlWsClient, postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const config = testConfig({
  graphql: { maxDepth: 4, maxAliases: 3, maxDirectives: 3, maxTokens: 200, maxCost: 5000 },
  identityProviders: [],
});

const aliased = '{ a: identityProviders { id } b: identityProviders { id } c: identityProviders { id } d: identityProviders { id } }';
const manyDirectives = '{ identityProviders @include(if: true) @include(if: true) @include(if: true) @include(if: true) { id } }';
const manyTokens = `{ identityProviders { ${'id '.repeat(250)} } }`;
const overLimit: [string, string, RegExp][] = [
  ['aliases', aliased, /aliases/i],
  ['directives', manyDirectives, /directives/i],
  ['tokens', manyTokens, /token/i],
];
const introspection = '{ __schema { queryType { name } } }';
const typo = '{ identityProvider { id } }';

describe('GraphQL over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config });
  });
  afterAll(() => server.close());

  it('answers a query sent as JSON', async () => {
    const res = await postGraphQL(server.url, { query: '{ identityProviders { id displayName } }' });
    expect(res).toEqual({ status: 200, body: { data: { identityProviders: [] } } });
  });

  it('blocks a simple (CSRF-able) request: text/plain POST and GET without a preflight header', async () => {
    const post = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: '{ identityProviders { id } }' }) });
    expect(post.status).toBe(400);
    expect(await post.text()).toMatch(/Cross-Site Request Forgery/);
    const get = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ identityProviders { id } }')}`);
    expect(get.status).toBe(400);
  });

  it('refuses a subscription over HTTP with 400 before it runs: its authorization lives in the subscribe step only graphql-ws takes', async () => {
    for (const query of ['subscription { grantChanged { id } }', 'subscription { auditEvents { id } }', 'subscription { accessRequestChanged { id } }']) {
      const res = await postGraphQL(server.url, { query });
      expect(res.status).toBe(400);
      expect(res.body.data).toBeUndefined();
      expect(res.body.errors).toEqual([{ message: expect.stringMatching(/subscriptions are served over WebSocket/), extensions: { code: 'BAD_REQUEST' } }]);
    }
  });

  it('refuses batched operations', async () => {
    const res = await postGraphQL(server.url, [{ query: '{ identityProviders { id } }' }, { query: '{ identityProviders { id } }' }]);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/batching/i);
  });

  it.each(overLimit)('rejects a query over the %s limit with 400 (the client is at fault, not the broker)', async (_name, query, message) => {
    const res = await postGraphQL(server.url, { query });
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors?.[0]?.message).toMatch(message);
  });

  it('rejects an oversized body with 413', async () => {
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ identityProviders { id } } #${'x'.repeat(300_000)}` }) });
    expect(res.status).toBe(413);
  });

  it('allows introspection and suggestions only when graphql.introspection is on', async () => {
    const open = await startTestServer({ config: testConfig({ graphql: { introspection: true } }) });
    try {
      expect((await postGraphQL(open.url, { query: introspection })).body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
      expect((await postGraphQL(open.url, { query: typo })).body.errors?.[0]?.message).toMatch(/Did you mean/);
    } finally {
      await open.close();
    }
  });
});

describe('GraphQL over WebSocket (graphql-transport-ws)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config });
  });
  afterAll(() => server.close());

  it('runs an operation on the same path and port as HTTP', async () => {
    const client = graphqlWsClient(server.wsUrl);
    expect(await executeOverWs(client, '{ identityProviders { id } }')).toEqual({ data: { identityProviders: [] } });
    await client.dispose();
  });

  it.each(overLimit)('applies the %s limit too', async (_name, query, message) => {
    const client = graphqlWsClient(server.wsUrl);
    const result = await executeOverWs(client, query);
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.message).toMatch(message);
    await client.dispose();
  });

  it('closes a connection whose frame exceeds the size limit with 1009', async () => {
    const ws = new WebSocket(`${server.wsUrl}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(70 * 1024));
    expect(await closed).toBe(1009);
  });

  it('refuses an upgrade on an unknown path with 404 before any handshake', async () => {
    const ws = new WebSocket(`${server.wsUrl}/nowhere`);
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
  });
});

describe('GraphQL cost limit', () => {
  it('rejects a query whose estimated cost exceeds maxCost, over HTTP and WebSocket', async () => {
    const server = await startTestServer({ config: testConfig({ graphql: { maxCost: 5 } }) });
    try {
      const costly = '{ a: identityProviders { id displayName } b: identityProviders { id displayName } }';
      const http = await postGraphQL(server.url, { query: costly });
      expect(http.body.errors?.[0]?.message).toMatch(/cost/i);
      const client = graphqlWsClient(server.wsUrl);
      expect((await executeOverWs(client, costly)).errors?.[0]?.message).toMatch(/cost/i);
      expect(await executeOverWs(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
      await client.dispose();
    } finally {
      await server.close();
    }
  });
});

describe('GraphQL depth limit', () => {
  // The schema is still shallow, so the limit is set below the depth of a plain query;
  // introspection fields are exempt (graphql-armor's default) so tools keep working in
  // development, and production refuses introspection altogether.
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: testConfig({ graphql: { maxDepth: 1 } }) });
  });
  afterAll(() => server.close());

  it('rejects a query deeper than maxDepth over HTTP and WebSocket, and accepts one within it', async () => {
    const tooDeep = '{ identityProviders { id } }';
    const http = await postGraphQL(server.url, { query: tooDeep });
    expect(http.body.data).toBeUndefined();
    expect(http.body.errors?.[0]?.message).toMatch(/depth/i);
    const client = graphqlWsClient(server.wsUrl);
    const ws = await executeOverWs(client, tooDeep);
    expect(ws.data).toBeUndefined();
    expect(ws.errors?.[0]?.message).toMatch(/depth/i);
    expect(await executeOverWs(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
    await client.dispose();
  });
});

describe('GraphQL by default (whatever NODE_ENV says)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config });
  });
  afterAll(() => server.close());

  it('refuses introspection over HTTP and WebSocket', async () => {
    const http = await postGraphQL(server.url, { query: introspection });
    expect(http.body.data).toBeUndefined();
    expect(http.body.errors?.[0]?.message).toMatch(/introspection/i);
    const client = graphqlWsClient(server.wsUrl);
    const ws = await executeOverWs(client, introspection);
    expect(ws.data).toBeUndefined();
    expect(ws.errors?.[0]?.message).toMatch(/introspection/i);
    await client.dispose();
  });

  it('gives no field suggestions over HTTP and WebSocket', async () => {
    const http = await postGraphQL(server.url, { query: typo });
    expect(http.body.errors?.[0]?.message).toMatch(/Cannot query field/);
    expect(http.body.errors?.[0]?.message).not.toMatch(/Did you mean|identityProviders/);
    const client = graphqlWsClient(server.wsUrl);
    const ws = await executeOverWs(client, typo);
    expect(ws.errors?.[0]?.message).toMatch(/Cannot query field/);
    expect(ws.errors?.[0]?.message).not.toMatch(/Did you mean|identityProviders/);
    await client.dispose();
  });
});

describe('graceful close', () => {
  it('closes open GraphQL WebSockets with 1001 and stops listening', async () => {
    const server = await startTestServer({ config: testConfig() });
    const ws = new WebSocket(`${server.wsUrl}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => ws.once('message', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await server.close();
    expect(await closed).toBe(1001);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('hostile upgrade requests', () => {
  it('answers an unparseable request target with 404 and keeps serving', async () => {
    const server = await startTestServer({ config: testConfig() });
    try {
      const { connect } = await import('node:net');
      const port = Number(new URL(server.url).port);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
        });
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 404/);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
