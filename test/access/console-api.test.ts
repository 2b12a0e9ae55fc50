import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfig, fixtureServer, startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import { cookieWsClient, postGraphQL, startInstancesOnRedis } from '../support/test-server.js';
import type { GraphQLBody, TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';

/**
 * Issue 16: what the web console reads and does through the public API (the viewer, a
 * grant by id, review rights, the servers' tools, how to connect, errors next to the
 * field, grants live), each checked for who may see it and who may not.
 */

const ROLES = [
  {
    name: 'engineer',
    members: { groups: ['engineering'] },
    request: [
      { server: 'everything', tools: ['echo', 'get-sum'], prompts: ['simple-prompt'], resources: ['demo://resource/*'], maxDurationSeconds: 3600, autoApprove: true },
      { server: 'everything', tools: ['*'], maxDurationSeconds: 7200 },
      { server: 'broken', tools: ['*'], maxDurationSeconds: 600 },
      { server: 'leaky', tools: ['*'], maxDurationSeconds: 600 },
    ],
  },
  { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'], prompts: ['*'], resources: ['*'] }] },
  { name: 'echo-reviewer', members: { groups: ['support'] }, review: [{ server: 'everything', tools: ['echo'], prompts: ['simple-prompt'], resources: ['demo://resource/*'] }] },
  { name: 'auditor', members: { groups: ['security'] }, audit: true },
];

const EVERYTHING = { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] };
/** `false` exits at once: a server whose tools cannot be read. */
const LEAKED = 'sk-rogue-7f3a91c2d4e8';
/** Refuses tools/list with an error quoting the secret it was given. */
const LEAKY = { ...fixtureServer('leaky', 'rogue-upstream', '--leaky-list'), env: { ROGUE_SECRET: LEAKED } };
const SERVERS = [EVERYTHING, { name: 'broken', transport: 'stdio', command: 'false' }, { name: 'secret', transport: 'stdio', command: 'false' }, LEAKY];
const OVERRIDES = { roles: ROLES, servers: SERVERS };

const GROUPS = { bob: ['sre'], dave: ['support'], carol: ['security'], frank: ['engineering'], zed: [] as string[] };
type Name = 'alice' | keyof typeof GROUPS;

const CREATE = 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id status viewerCanReview grant { id } } }';
const GRANT = 'query($id: ID!) { grant(id: $id) { id status user { email } tools } }';
const errorOf = (body: GraphQLBody) => body.errors?.[0];

/** A graphql-ws client signed in with the person's cookie, from the public URL's origin (as a browser on the console). */
function wsClient(server: TestServer, cookie: string): Client {
  return cookieWsClient(server, cookie, TEST_PUBLIC_URL);
}

type GrantEvent = { id: string; status: string };

/** Collects grantChanged events until disposed; ready once the subscription is live. */
function watchGrants(client: Client): { events: GrantEvent[]; errors: unknown[]; ready: Promise<void> } {
  const events: GrantEvent[] = [];
  const errors: unknown[] = [];
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  client.on('connected', () => setTimeout(markReady, 150));
  client.subscribe<{ grantChanged: GrantEvent }>(
    { query: 'subscription { grantChanged { id status } }' },
    { next: (value) => (value.data ? events.push(value.data.grantChanged) : errors.push(value.errors)), error: (e) => errors.push(e), complete: () => {} },
  );
  return { events, errors, ready };
}

describe('the console API (issue 16)', () => {
  let fx: BrokerFixture;
  let people: Record<Name, BrokerPerson>;
  const as = (name: Name) => people[name].gql;

  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES });
    const others = await Promise.all(Object.entries(GROUPS).map(async ([name, groups]) => [name, await fx.signInAs(`${name}@example.com`, groups)] as const));
    people = { alice: fx, ...Object.fromEntries(others) } as unknown as Record<Name, BrokerPerson>;
  });
  afterAll(() => fx.close());

  describe('Query.viewer', () => {
    const VIEWER = '{ viewer { user { email roles } readsAllAudit reviewer signInExpiresAt } }';

    it('says who is signed in, whether they review, read all audit events, and when the sign-in ends', async () => {
      const alice = (await as('alice')(VIEWER)).body.data as { viewer: { user: { email: string }; readsAllAudit: boolean; reviewer: boolean; signInExpiresAt: string } };
      expect(alice.viewer).toMatchObject({ user: { email: 'alice@example.com', roles: ['engineer'] }, readsAllAudit: false, reviewer: false });
      expect(Date.parse(alice.viewer.signInExpiresAt)).toBeGreaterThan(Date.now());
      expect((await as('bob')(VIEWER)).body.data).toMatchObject({ viewer: { reviewer: true, readsAllAudit: false } });
      expect((await as('carol')(VIEWER)).body.data).toMatchObject({ viewer: { reviewer: false, readsAllAudit: true } });
    });

    it('reads all audit events only through a credential holding audit:read, and gives a token its own expiry', async () => {
      const token = await people.carol.token(['api']);
      const res = await postGraphQL(fx.server.url, { query: VIEWER }, { authorization: `Bearer ${token}` });
      const viewer = (res.body.data as { viewer: { readsAllAudit: boolean; signInExpiresAt: string } }).viewer;
      expect(viewer.readsAllAudit).toBe(false);
      expect(Date.parse(viewer.signInExpiresAt)).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    });

    it('refuses an anonymous caller', async () => {
      expect(errorOf((await postGraphQL(fx.server.url, { query: VIEWER })).body)?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('Query.grant', () => {
    let echoGrant: string;
    let sumGrant: string;
    beforeAll(async () => {
      echoGrant = await fx.grant(['echo']);
      sumGrant = await fx.grant(['get-sum']);
    });

    it('shows a grant to its owner, a reviewer who could have approved it, and an auditor', async () => {
      for (const who of ['alice', 'bob', 'dave', 'carol'] as const) {
        expect((await as(who)(GRANT, { id: echoGrant })).body).toEqual({ data: { grant: { id: echoGrant, status: 'ACTIVE', user: { email: 'alice@example.com' }, tools: ['echo'] } } });
      }
    });

    it('answers anyone else exactly as for an unknown id: null, no error', async () => {
      const unknown = await as('frank')(GRANT, { id: '00000000-0000-4000-8000-000000000000' });
      expect(unknown.body).toEqual({ data: { grant: null } });
      expect((await as('frank')(GRANT, { id: echoGrant })).body).toEqual(unknown.body);
      // The echo reviewer could not have approved get-sum.
      expect((await as('dave')(GRANT, { id: sumGrant })).body).toEqual(unknown.body);
      expect((await as('zed')(GRANT, { id: sumGrant })).body).toEqual(unknown.body);
    });

    it('shows an auditor the request behind a grant (reason and reviews), as it shows the grant', async () => {
      const query = 'query($id: ID!) { grant(id: $id) { request { reason requester { email } } } }';
      expect((await as('carol')(query, { id: echoGrant })).body).toMatchObject({ data: { grant: { request: { requester: { email: 'alice@example.com' }, reason: expect.any(String) } } } });
      // Frank, an engineer like alice, sees neither.
      expect((await as('frank')(query, { id: echoGrant })).body).toEqual({ data: { grant: null } });
    });
  });

  describe('AccessRequest.viewerCanReview', () => {
    it('is true only for a reviewer of everything it asks, while it is pending, and never for the requester', async () => {
      const created = await as('alice')(CREATE, { input: { server: 'everything', tools: ['echo', 'gzip-file-as-resource'], reason: 'compress logs', durationSeconds: 600 } });
      const request = (created.body.data as { createAccessRequest: { id: string; status: string; viewerCanReview: boolean } }).createAccessRequest;
      expect(request).toMatchObject({ status: 'PENDING', viewerCanReview: false });
      const READ = 'query($id: ID!) { accessRequest(id: $id) { viewerCanReview } }';
      expect((await as('bob')(READ, { id: request.id })).body.data).toEqual({ accessRequest: { viewerCanReview: true } });
      // dave reviews echo only: he cannot see a request that also asks for gzip, let alone review it.
      expect(errorOf((await as('dave')(READ, { id: request.id })).body)?.extensions?.code).toBe('NOT_FOUND');
      await as('bob')('mutation($input: ReviewAccessRequestInput!) { reviewAccessRequest(input: $input) { status } }', { input: { requestId: request.id, decision: 'DENY', reason: 'no' } });
      expect((await as('bob')(READ, { id: request.id })).body.data).toEqual({ accessRequest: { viewerCanReview: false } });
    });
  });

  describe('McpServer: maxDurationSeconds and the tools the broker reads', () => {
    const SERVERS_QUERY = '{ mcpServers { name maxDurationSeconds tools { name title description readOnly destructive idempotent openWorld inputSchema } toolsError } }';
    type Server = { name: string; maxDurationSeconds: number | null; tools: Record<string, unknown>[] | null; toolsError: string | null };
    const servers = async (who: Name) => {
      const res = await as(who)(SERVERS_QUERY);
      expect(res.body.errors).toBeUndefined();
      return Object.fromEntries((res.body.data as { mcpServers: Server[] }).mcpServers.map((s) => [s.name, s]));
    };

    it("gives a requester each server's longest duration and the real server's tools with their annotations", async () => {
      const alice = await servers('alice');
      expect([alice.everything!.maxDurationSeconds, alice.broken!.maxDurationSeconds, alice.secret!.maxDurationSeconds]).toEqual([7200, 600, null]);
      const tools = alice.everything!.tools!;
      expect(tools.find((t) => t.name === 'echo')).toEqual({
        name: 'echo',
        title: 'Echo Tool',
        description: 'Echoes back the input string',
        readOnly: true,
        destructive: false,
        idempotent: true,
        openWorld: false,
        inputSchema: expect.objectContaining({ type: 'object', properties: expect.objectContaining({ message: expect.any(Object) }) }),
      });
      expect(tools.find((t) => t.name === 'gzip-file-as-resource')).toMatchObject({ readOnly: false, destructive: false });
      expect(alice.everything!.toolsError).toBeNull();
    });

    it('says why a server it may request on cannot be read', async () => {
      const broken = (await servers('alice')).broken!;
      expect(broken.tools).toBeNull();
      expect(broken.toolsError).toEqual(expect.any(String));
      expect(broken.toolsError!.length).toBeGreaterThan(0);
    });

    it("never passes on a secret the broker gave the server, when the server's own error quotes it", async () => {
      const leaky = (await servers('alice')).leaky!;
      expect(leaky.toolsError).toContain('cannot list tools: bad key');
      expect(leaky.toolsError).not.toContain(LEAKED);
    });

    it('shows the tools to reviewers and auditors, and nothing to anyone with no business on the server (deny by default)', async () => {
      expect((await servers('bob')).everything!.tools!.length).toBeGreaterThan(5);
      expect((await servers('carol')).everything!.tools!.length).toBeGreaterThan(5);
      // An auditor is told the secret server cannot be read; alice, who may not request on it, is told nothing.
      expect((await servers('carol')).secret!.toolsError).toEqual(expect.any(String));
      expect((await servers('alice')).secret).toMatchObject({ tools: null, toolsError: null });
      const zed = await servers('zed');
      for (const name of ['everything', 'broken', 'secret']) expect(zed[name]).toMatchObject({ maxDurationSeconds: null, tools: null, toolsError: null });
    });
  });

  describe('Query.mcpConnection', () => {
    const CONNECTION = 'query($server: String) { mcpConnection(server: $server) { url webSocketUrl entries { client label format text } } }';

    it('gives the URLs under the public URL and each client\'s entry, the same the CLI prints', async () => {
      const res = await as('alice')(CONNECTION, { server: 'everything' });
      const url = `${TEST_PUBLIC_URL}/mcp/everything`;
      expect(res.body.data).toEqual({
        mcpConnection: {
          url,
          webSocketUrl: 'ws://127.0.0.1:8080/mcp/ws/everything',
          entries: [
            { client: 'claude-code', label: 'Claude Code', format: 'shell', text: `claude mcp add --transport http everything ${url}` },
            { client: 'vscode', label: 'VS Code', format: 'json', text: JSON.stringify({ servers: { everything: { type: 'http', url } } }, null, 2) },
            { client: 'cursor', label: 'Cursor', format: 'json', text: JSON.stringify({ mcpServers: { everything: { url } } }, null, 2) },
            { client: 'claude', label: 'Claude Desktop', format: 'text', text: expect.stringContaining(`Settings > Connectors`) },
          ],
        },
      });
      expect((res.body.data as { mcpConnection: { entries: { text: string }[] } }).mcpConnection.entries[3]!.text).toContain(url);
    });

    it('gives the federated endpoint without a server', async () => {
      const res = await as('zed')(CONNECTION);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data).toMatchObject({ mcpConnection: { url: `${TEST_PUBLIC_URL}/mcp`, webSocketUrl: 'ws://127.0.0.1:8080/mcp/ws' } });
      expect((res.body.data as { mcpConnection: { entries: { text: string }[] } }).mcpConnection.entries[0]!.text).toBe(`claude mcp add --transport http portcullis ${TEST_PUBLIC_URL}/mcp`);
    });

    it('answers a server the caller has no business with exactly as an unknown one', async () => {
      const secret = await as('alice')(CONNECTION, { server: 'secret' });
      const unknown = await as('alice')(CONNECTION, { server: 'nowhere' });
      expect(errorOf(secret.body)).toMatchObject({ message: 'MCP server not found', extensions: { code: 'NOT_FOUND', field: 'server' } });
      expect(errorOf(secret.body)).toEqual(errorOf(unknown.body));
    });
  });

  describe('errors carry the input field they concern (extensions.field)', () => {
    const refusal = async (query: string, variables: Record<string, unknown>) => errorOf((await as('alice')(query, variables)).body)?.extensions;
    const ask = (input: Record<string, unknown>) => refusal(CREATE, { input: { server: 'everything', tools: ['echo'], reason: 'r', durationSeconds: 60, ...input } });
    const TOKEN = 'mutation($name: String!, $scopes: [String!]!, $ttl: Int!) { createApiToken(name: $name, scopes: $scopes, ttlSeconds: $ttl) { token } }';

    it('names the request field a refusal is about', async () => {
      expect(await ask({ tools: ['*'], durationSeconds: 99_999 })).toEqual({ code: 'DURATION_TOO_LONG', field: 'durationSeconds' });
      expect(await ask({ durationSeconds: 0 })).toEqual({ code: 'INVALID_INPUT', field: 'durationSeconds' });
      expect(await ask({ reason: '   ' })).toEqual({ code: 'INVALID_INPUT', field: 'reason' });
      expect(await ask({ resources: ['file:///etc/*'] })).toEqual({ code: 'TOOL_NOT_REQUESTABLE', field: 'resources' });
      expect(await ask({ prompts: ['other-prompt'] })).toEqual({ code: 'TOOL_NOT_REQUESTABLE', field: 'prompts' });
      expect(await ask({ tools: ['bad name'] })).toEqual({ code: 'INVALID_INPUT', field: 'tools' });
      expect(await ask({ server: 'secret' })).toEqual({ code: 'TOOL_NOT_REQUESTABLE', field: 'server' });
      expect(await ask({ server: 'nowhere' })).toEqual({ code: 'UNKNOWN_SERVER', field: 'server' });
    });

    it('names the token field a refusal is about', async () => {
      expect(await refusal(TOKEN, { name: 'ci', scopes: ['api'], ttl: 0 })).toEqual({ code: 'INVALID_INPUT', field: 'ttlSeconds' });
      expect(await refusal(TOKEN, { name: 'ci', scopes: ['root'], ttl: 60 })).toEqual({ code: 'INVALID_INPUT', field: 'scopes' });
      expect(await refusal(TOKEN, { name: ' ', scopes: ['api'], ttl: 60 })).toEqual({ code: 'INVALID_INPUT', field: 'name' });
    });

    it('leaves errors about no single field without one', async () => {
      expect(await refusal('mutation($id: ID!) { cancelAccessRequest(id: $id) { id } }', { id: 'nope' })).toEqual({ code: 'NOT_FOUND' });
    });
  });

  describe('Subscription.grantChanged', () => {
    it('delivers grants as they are issued, revoked and expire, to those who may see each', async () => {
      const names = ['alice', 'bob', 'dave', 'carol', 'frank'] as const;
      const clients = Object.fromEntries(names.map((name) => [name, wsClient(fx.server, people[name].cookie)])) as Record<(typeof names)[number], Client>;
      const watches = Object.fromEntries(names.map((name) => [name, watchGrants(clients[name])])) as Record<(typeof names)[number], ReturnType<typeof watchGrants>>;
      try {
        await Promise.all(Object.values(watches).map((w) => w.ready));
        const echo = await fx.grant(['echo']);
        const sum = await fx.grant(['get-sum'], 1);
        await as('carol')('mutation($id: ID!) { revokeGrant(id: $id, reason: "offboarding") { id } }', { id: echo });
        const ofAlice = [
          { id: echo, status: 'ACTIVE' },
          { id: sum, status: 'ACTIVE' },
          { id: echo, status: 'REVOKED' },
          // The expiry sweeper records the end of the one-second grant within its interval.
          { id: sum, status: 'EXPIRED' },
        ];
        await expect.poll(() => watches.alice.events, { timeout: 12_000 }).toEqual(ofAlice);
        await expect.poll(() => watches.carol.events).toEqual(ofAlice);
        await expect.poll(() => watches.bob.events).toEqual(ofAlice);
        // dave reviews echo only; frank may see neither.
        expect(watches.dave.events).toEqual(ofAlice.filter((e) => e.id === echo));
        expect(watches.frank.events).toEqual([]);
        expect(Object.values(watches).flatMap((w) => w.errors)).toEqual([]);
      } finally {
        await Promise.all(Object.values(clients).map((c) => c.dispose()));
      }
    });
  });
});

describe('Subscription.grantChanged refusals', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES });
  });
  afterAll(() => fx.close());

  const subscribeWith = async (connectionParams: Record<string, unknown>) => {
    const client = createClient({ url: `${fx.server.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
    try {
      return await new Promise<unknown>((resolve) => {
        client.subscribe({ query: 'subscription { grantChanged { id } }' }, { next: (value) => resolve(value), error: (error) => resolve(error), complete: () => resolve('complete') });
      });
    } finally {
      await client.dispose();
    }
  };

  it('refuses a caller without a credential, and a token without the api scope', async () => {
    expect(await subscribeWith({})).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(await subscribeWith({ authorization: `Bearer ${await fx.token(['mcp'])}` })).toMatchObject({ errors: [{ extensions: { code: 'FORBIDDEN' } }] });
  });
});

describeWithRedis('grantChanged across instances', () => {
  it('reaches the grant\'s owner on instance B when it is issued and revoked on instance A', async () => {
    const idp = await createTestIdp('corp');
    const [a, b] = (await startInstancesOnRedis(brokerConfig(idp, OVERRIDES))) as [TestServer, TestServer];
    try {
      const cookie = await signIn(a.url, idp, { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } });
      const client = wsClient(b, cookie);
      const watch = watchGrants(client);
      await watch.ready;
      const created = await postGraphQL(a.url, { query: CREATE, variables: { input: { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 60 } } }, { cookie });
      const grantId = (created.body.data as { createAccessRequest: { grant: { id: string } } }).createAccessRequest.grant.id;
      await postGraphQL(a.url, { query: 'mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { id } }', variables: { id: grantId } }, { cookie });
      await expect.poll(() => watch.events).toEqual([
        { id: grantId, status: 'ACTIVE' },
        { id: grantId, status: 'REVOKED' },
      ]);
      await client.dispose();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
