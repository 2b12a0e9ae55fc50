import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessConfig } from '../support/access-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import { postGraphQL, startInstancesOnRedis, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

const QUERY = 'query($filter: AuditFilter, $first: Int, $after: String) { auditEvents(filter: $filter, first: $first, after: $after) { items { id type actor outcome server data hash } pageInfo { endCursor hasNextPage } } }';
type Page = { items: { id: string; type: string; actor: string | null; outcome: string; server: string | null; data: Record<string, unknown> }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };

function config(idp: TestIdp) {
  const access = accessConfig();
  return configTrusting([idp], { roles: access.roles, servers: access.servers });
}

const person = (name: string, groups: string[]) => ({ nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups } });

function subscribe(server: TestServer, authorization: string, variables: Record<string, unknown>) {
  const client = createClient({ url: `${server.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization } });
  const received: { id: string; type: string; data: Record<string, unknown> }[] = [];
  const errors: unknown[] = [];
  client.subscribe<{ auditEvents: { id: string; type: string; data: Record<string, unknown> } }>(
    { query: 'subscription($filter: AuditFilter, $after: String) { auditEvents(filter: $filter, after: $after) { id type data } }', variables },
    { next: (v) => v.data && received.push(v.data.auditEvents), error: (e) => errors.push(e), complete: () => {} },
  );
  return { client, received, errors };
}

describe('audit API', () => {
  let server: TestServer;
  let cookies: Record<'alice' | 'carol', string>;
  let auditorToken: string;

  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    server = await startTestServer({ config: config(idp) });
    cookies = { alice: await signIn(server.url, idp, person('alice', ['engineering'])), carol: await signIn(server.url, idp, person('carol', ['security'])) };
    const created = await postGraphQL(server.url, { query: 'mutation { createApiToken(name: "siem", scopes: ["audit:read"], ttlSeconds: 600) { token } }' }, { cookie: cookies.carol });
    auditorToken = (created.body.data as { createApiToken: { token: string } }).createApiToken.token;
  });
  afterAll(() => server.close());

  const query = async (headers: Record<string, string>, variables: Record<string, unknown> = {}) => {
    const res = await postGraphQL(server.url, { query: QUERY, variables }, headers);
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return (res.body.data as { auditEvents: Page }).auditEvents;
  };

  it('shows an auditor every event and anyone else only their own', async () => {
    const all = await query({ authorization: `Bearer ${auditorToken}` }, { first: 1000 });
    expect(new Set(all.items.map((e) => e.actor))).toEqual(new Set(['alice@example.com', 'carol@example.com']));
    const own = await query({ cookie: cookies.alice }, { first: 1000 });
    expect(own.items.length).toBeGreaterThan(0);
    expect(own.items.every((e) => e.actor === 'alice@example.com')).toBe(true);
  });

  it('links an event to its grant for a caller with the api scope only: an audit:read token reads the log, not grants, requests or groups', async () => {
    const created = await postGraphQL(server.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "linked", durationSeconds: 600 }) { grant { id } } }' }, { cookie: cookies.alice });
    const grantId = (created.body.data as { createAccessRequest: { grant: { id: string } } }).createAccessRequest.grant.id;
    const linked = 'query { auditEvents(filter: { types: ["grant.issued"] }, first: 100) { items { data grant { id user { email groups } request { reason } } } } }';
    const issued = async (headers: Record<string, string>) => {
      const res = await postGraphQL(server.url, { query: linked }, headers);
      const items = (res.body.data as { auditEvents: { items: { data: { grantId: string }; grant: unknown }[] } }).auditEvents.items;
      return items.find((e) => e.data.grantId === grantId)!;
    };
    expect((await issued({ cookie: cookies.carol })).grant).toMatchObject({ id: grantId, user: { email: 'alice@example.com', groups: ['engineering'] }, request: { reason: 'linked' } });
    expect((await issued({ authorization: `Bearer ${auditorToken}` })).grant).toBeNull();
  });

  it('filters by type, actor, outcome and time, and pages in event order', async () => {
    const logins = await query({ authorization: `Bearer ${auditorToken}` }, { filter: { types: ['auth.login'], outcome: 'SUCCESS' }, first: 1000 });
    expect(logins.items.map((e) => e.type)).toEqual(['auth.login', 'auth.login']);
    const carol = await query({ authorization: `Bearer ${auditorToken}` }, { filter: { actor: 'carol@example.com' }, first: 1000 });
    expect(carol.items.every((e) => e.actor === 'carol@example.com')).toBe(true);
    const none = await query({ authorization: `Bearer ${auditorToken}` }, { filter: { until: '2000-01-01T00:00:00Z' } });
    expect(none.items).toEqual([]);
    const first = await query({ authorization: `Bearer ${auditorToken}` }, { first: 1 });
    const rest = await query({ authorization: `Bearer ${auditorToken}` }, { first: 1000, after: first.pageInfo.endCursor });
    const everything = await query({ authorization: `Bearer ${auditorToken}` }, { first: 1000 });
    expect([...first.items, ...rest.items].map((e) => e.id)).toEqual(everything.items.map((e) => e.id));
    expect(first.pageInfo.hasNextPage).toBe(true);
    expect(rest.pageInfo.hasNextPage).toBe(false);
  });

  it('replays after a cursor, then goes live, with no gap and no duplicate while events are being written', async () => {
    const before = await query({ authorization: `Bearer ${auditorToken}` }, { first: 1000 });
    const cursor = before.items.at(-1)!.id;
    const writer = (async () => {
      for (let n = 0; n < 150; n++) await server.stores.audit.append({ type: 'test.event', outcome: 'SUCCESS', actor: 'writer@example.com', data: { n } });
    })();
    await new Promise((r) => setTimeout(r, 5));
    const feed = subscribe(server, `Bearer ${auditorToken}`, { after: cursor, filter: { types: ['test.event'] } });
    await writer;
    await expect.poll(() => feed.received.length, { timeout: 10_000 }).toBe(150);
    expect(feed.received.map((e) => e.data.n)).toEqual(Array.from({ length: 150 }, (_, n) => n));
    await feed.client.dispose();
  });

  it('gives a non-auditor\'s feed only their own events', async () => {
    const token = ((await postGraphQL(server.url, { query: 'mutation { createApiToken(name: "mine", scopes: ["audit:read"], ttlSeconds: 600) { token } }' }, { cookie: cookies.alice })).body.data as { createApiToken: { token: string } }).createApiToken.token;
    const feed = subscribe(server, `Bearer ${token}`, {});
    await new Promise((r) => setTimeout(r, 100));
    await server.stores.audit.append({ type: 'test.other', outcome: 'SUCCESS', actor: 'someone@example.com' });
    await server.stores.audit.append({ type: 'test.mine', outcome: 'SUCCESS', actor: 'alice@example.com' });
    await expect.poll(() => feed.received.map((e) => e.type)).toEqual(['test.mine']);
    await feed.client.dispose();
  });

  it('refuses tokens with neither the audit:read nor the api scope', async () => {
    const token = ((await postGraphQL(server.url, { query: 'mutation { createApiToken(name: "m", scopes: ["mcp"], ttlSeconds: 600) { token } }' }, { cookie: cookies.carol })).body.data as { createApiToken: { token: string } }).createApiToken.token;
    const res = await postGraphQL(server.url, { query: QUERY }, { authorization: `Bearer ${token}` });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describeWithRedis('audit feed across instances', () => {
  it('delivers on instance B what instance A writes', async () => {
    const idp = await createTestIdp('corp');
    const [a, b] = (await startInstancesOnRedis(config(idp))) as [TestServer, TestServer];
    try {
      const cookie = await signIn(b.url, idp, person('carol', ['security']));
      const token = ((await postGraphQL(b.url, { query: 'mutation { createApiToken(name: "siem", scopes: ["audit:read"], ttlSeconds: 600) { token } }' }, { cookie })).body.data as { createApiToken: { token: string } }).createApiToken.token;
      const feed = subscribe(b, `Bearer ${token}`, { filter: { types: ['auth.login'] } });
      await new Promise((r) => setTimeout(r, 200));
      await signIn(a.url, idp, person('alice', ['engineering']));
      await expect.poll(() => feed.received.length).toBe(1);
      await feed.client.dispose();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
