import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessConfig, PEOPLE } from '../support/access-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import { cookieWsClient, postGraphQL, startInstancesOnRedis, startTestServer, testConfig } from '../support/test-server.js';
import type { GraphQLBody, TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

const CREATE = `mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id status tools deniedTools durationSeconds requester { email roles } grant { id status } } }`;
const REVIEW = `mutation($input: ReviewAccessRequestInput!) { reviewAccessRequest(input: $input) { id status reviews { reviewer { email } decision } grant { id status tools expiresAt user { email } request { id } } } }`;
const REQUEST = `query($id: ID!) { accessRequest(id: $id) { id status } }`;
const REVOKE = `mutation($id: ID!, $reason: String!) { revokeGrant(id: $id, reason: $reason) { id status revokedAt revokeReason } }`;

function serverConfig(idp: TestIdp) {
  const access = accessConfig();
  return testConfig({
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
    identityProviders: [idp.config],
    roles: access.roles,
    servers: access.servers,
    approvals: access.approvals,
  });
}

function wsClient(server: TestServer, cookie: string): Client {
  return cookieWsClient(server, cookie, TEST_PUBLIC_URL);
}

/** Collects accessRequestChanged events on a socket until disposed. */
function watch(client: Client): { events: { id: string; status: string }[]; ready: Promise<void> } {
  const events: { id: string; status: string }[] = [];
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  client.on('connected', () => setTimeout(markReady, 100));
  client.subscribe<{ accessRequestChanged: { id: string; status: string } }>(
    { query: 'subscription { accessRequestChanged { id status } }' },
    { next: (value) => value.data && events.push(value.data.accessRequestChanged), error: () => {}, complete: () => {} },
  );
  return { events, ready };
}

async function signInPeople(server: TestServer, idp: TestIdp): Promise<Record<keyof typeof PEOPLE, string>> {
  const entries = await Promise.all(
    Object.entries(PEOPLE).map(async ([name, groups]) => [name, await signIn(server.url, idp, { nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups: [...groups] } })] as const),
  );
  return Object.fromEntries(entries) as Record<keyof typeof PEOPLE, string>;
}

const codeOf = (body: GraphQLBody) => body.errors?.[0]?.extensions?.code;

describe('just-in-time access over /graphql, signed in through the test IdP', () => {
  let server: TestServer;
  let idp: TestIdp;
  let cookies: Record<keyof typeof PEOPLE, string>;
  const gql = (who: keyof typeof PEOPLE, query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie: cookies[who] });

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    server = await startTestServer({ config: serverConfig(idp) });
    cookies = await signInPeople(server, idp);
  });
  afterAll(() => server.close());

  it('shows each caller what they may request and review', async () => {
    const alice = await gql('alice', '{ mcpServers { name transport requestableTools reviewableTools } }');
    expect(alice.body.data).toEqual({
      mcpServers: [
        { name: 'everything', transport: 'stdio', requestableTools: ['*', 'echo', 'get-sum'], reviewableTools: [] },
        { name: 'docs', transport: 'streamable-http', requestableTools: [], reviewableTools: [] },
      ],
    });
    const bob = await gql('bob', '{ mcpServers { name reviewableTools } }');
    expect((bob.body.data as { mcpServers: unknown[] }).mcpServers[0]).toEqual({ name: 'everything', reviewableTools: ['*'] });
  });

  it('request → approve → grant, with the grant visible to its owner', async () => {
    const created = await gql('alice', CREATE, { input: { server: 'everything', tools: ['read_file'], reason: 'incident 7', durationSeconds: 1800 } });
    const request = (created.body.data as { createAccessRequest: { id: string; status: string; requester: { roles: string[] } } }).createAccessRequest;
    expect(request).toMatchObject({ status: 'PENDING', deniedTools: ['*delete*'], requester: { email: 'alice@example.com', roles: ['engineer'] }, grant: null });
    const reviewed = await gql('bob', REVIEW, { input: { requestId: request.id, decision: 'APPROVE' } });
    const approved = (reviewed.body.data as { reviewAccessRequest: { status: string; grant: { id: string; user: { email: string }; request: { id: string } } } }).reviewAccessRequest;
    expect(approved).toMatchObject({ status: 'APPROVED', reviews: [{ reviewer: { email: 'bob@example.com' }, decision: 'APPROVE' }], grant: { status: 'ACTIVE', tools: ['read_file'], user: { email: 'alice@example.com' } } });
    const grants = await gql('alice', '{ grants(active: true) { items { id status request { id } } pageInfo { hasNextPage endCursor } } }');
    expect(grants.body.data).toEqual({ grants: { items: [{ id: approved.grant.id, status: 'ACTIVE', request: { id: request.id } }], pageInfo: { hasNextPage: false, endCursor: expect.any(String) } } });
  });

  it('refuses self-review, reviewers outside their rules, and over-long durations with stable codes', async () => {
    const created = await gql('frank', CREATE, { input: { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 60 } });
    const id = (created.body.data as { createAccessRequest: { id: string } }).createAccessRequest.id;
    expect(codeOf((await gql('frank', REVIEW, { input: { requestId: id, decision: 'APPROVE' } })).body)).toBe('SELF_REVIEW');
    expect(codeOf((await gql('dave', REVIEW, { input: { requestId: id, decision: 'APPROVE' } })).body)).toBe('NOT_FOUND');
    const long = await gql('frank', CREATE, { input: { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 999_999 } });
    expect(long.body.errors?.[0]).toMatchObject({ extensions: { code: 'DURATION_TOO_LONG' }, message: expect.stringMatching(/exceeds the 14400 s allowed/) });
  });

  it('gives IDOR probes on another user\'s request and grant the same answer as unknown ids', async () => {
    const created = await gql('alice', CREATE, { input: { server: 'everything', tools: ['echo'], reason: 'auto', durationSeconds: 60 } });
    const { id, grant } = (created.body.data as { createAccessRequest: { id: string; grant: { id: string } } }).createAccessRequest;
    const probes = [
      await gql('frank', REQUEST, { id }),
      await gql('frank', REQUEST, { id: '00000000-0000-4000-8000-000000000000' }),
      await gql('frank', REVOKE, { id: grant.id, reason: 'x' }),
      await gql('frank', REVOKE, { id: '00000000-0000-4000-8000-000000000000', reason: 'x' }),
      await gql('frank', 'mutation($id: ID!) { cancelAccessRequest(id: $id) { id } }', { id }),
    ];
    for (const probe of probes) expect(probe.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/not found$/), extensions: { code: 'NOT_FOUND' } });
    expect(probes[0]!.body.errors?.[0]?.message).toBe(probes[1]!.body.errors?.[0]?.message);
    expect(probes[2]!.body.errors?.[0]?.message).toBe(probes[3]!.body.errors?.[0]?.message);
  });

  it('revokes a grant for good', async () => {
    const created = await gql('alice', CREATE, { input: { server: 'everything', tools: ['get-sum'], reason: 'auto', durationSeconds: 60 } });
    const grantId = (created.body.data as { createAccessRequest: { grant: { id: string } } }).createAccessRequest.grant.id;
    const revoked = await gql('carol', REVOKE, { id: grantId, reason: 'offboarding' });
    expect(revoked.body.data).toEqual({ revokeGrant: { id: grantId, status: 'REVOKED', revokedAt: expect.any(String), revokeReason: 'offboarding' } });
    expect(codeOf((await gql('alice', REVOKE, { id: grantId, reason: 'again' })).body)).toBe('GRANT_NOT_ACTIVE');
  });

  it('requires sign-in for every access operation', async () => {
    const anonymous = await postGraphQL(server.url, { query: '{ mcpServers { name } }' });
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('delivers accessRequestChanged to the requester and eligible reviewers only', async () => {
    const clients = { alice: wsClient(server, cookies.alice), bob: wsClient(server, cookies.bob), dave: wsClient(server, cookies.dave), frank: wsClient(server, cookies.frank) };
    const watches = Object.fromEntries(Object.entries(clients).map(([name, client]) => [name, watch(client)])) as Record<keyof typeof clients, ReturnType<typeof watch>>;
    await Promise.all(Object.values(watches).map((w) => w.ready));
    const created = await gql('alice', CREATE, { input: { server: 'everything', tools: ['read_file'], reason: 'live', durationSeconds: 60 } });
    const id = (created.body.data as { createAccessRequest: { id: string } }).createAccessRequest.id;
    await gql('bob', REVIEW, { input: { requestId: id, decision: 'DENY' } });
    const expected = [
      { id, status: 'PENDING' },
      { id, status: 'DENIED' },
    ];
    await expect.poll(() => watches.alice.events.filter((e) => e.id === id)).toEqual(expected);
    await expect.poll(() => watches.bob.events.filter((e) => e.id === id)).toEqual(expected);
    // Others got nothing about it (the same events reached everyone else in time).
    expect(watches.dave.events.filter((e) => e.id === id)).toEqual([]);
    expect(watches.frank.events.filter((e) => e.id === id)).toEqual([]);
    await Promise.all(Object.values(clients).map((c) => c.dispose()));
  });
});

describeWithRedis('accessRequestChanged across instances', () => {
  it('reaches a reviewer connected to instance B when the request is made on instance A', async () => {
    const idp = await createTestIdp('corp');
    const [a, b] = (await startInstancesOnRedis(serverConfig(idp))) as [TestServer, TestServer];
    try {
      const cookies = await signInPeople(a, idp);
      const bobOnB = wsClient(b, cookies.bob);
      const watchB = watch(bobOnB);
      await watchB.ready;
      const created = await postGraphQL(a.url, { query: CREATE, variables: { input: { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 60 } } }, { cookie: cookies.alice });
      const id = (created.body.data as { createAccessRequest: { id: string } }).createAccessRequest.id;
      await expect.poll(() => watchB.events).toEqual([{ id, status: 'PENDING' }]);
      await bobOnB.dispose();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
