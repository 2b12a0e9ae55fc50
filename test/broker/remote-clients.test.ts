import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { startBroker } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';
import { DCR_METADATA, MemoryOAuthProvider, postForm, publicUrlFetch, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { describeWithRedis } from '../support/redis.js';
import type { TestServer } from '../support/test-server.js';

/**
 * Issue 15 end to end, as a remote MCP client works: the official SDK client's Streamable
 * HTTP transport with its OAuth provider against the broker's endpoint (discovery, DCR,
 * the browser leg through the SAML IdP, consent, token exchange, calls, refresh,
 * revocation), and access asked for from inside the client with the broker tool.
 */

type Outcome = { ok: true; result: unknown } | { ok: false; code?: number; data?: { reason?: string } };
const settle = (promise: Promise<unknown>): Promise<Outcome> =>
  promise.then(
    (result) => ({ ok: true, result }),
    ({ code, data }: { code?: number; data?: { reason?: string } }) => ({ ok: false, code, data }),
  );

/** A remote client of `serverUrl`'s broker (its public URL rewritten to the test address), signed in by OAuth. */
class RemoteClient {
  readonly provider = new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);
  readonly client = new Client({ name: 'remote-test-client', version: '1.0.0' });
  transport: StreamableHTTPClientTransport | undefined;

  constructor(
    private readonly serverUrl: string,
    readonly resource: string,
  ) {}

  private newTransport(): StreamableHTTPClientTransport {
    return new StreamableHTTPClientTransport(new URL(this.resource), { authProvider: this.provider, fetch: publicUrlFetch(this.serverUrl) });
  }

  /** The first connection is refused (401), the person signs in and consents in the browser, and the client connects with its token. */
  async signInAndConnect(browser: TestBrowser): Promise<void> {
    await expect(this.client.connect(this.newTransport())).rejects.toBeInstanceOf(UnauthorizedError);
    const opened = await browser.open(this.provider.authorizationUrl!);
    if (!('consent' in opened)) throw new Error(`expected the consent page: ${JSON.stringify(opened)}`);
    const answer = await browser.decide(opened.consent, 'allow');
    const code = new URL(answer.headers.get('location')!).searchParams.get('code')!;
    const finishing = this.newTransport();
    await finishing.finishAuth(code);
    await this.connect();
  }

  /** Connects with the tokens it holds (a client that already signed in). */
  async connect(): Promise<void> {
    this.transport = this.newTransport();
    await this.client.connect(this.transport);
  }
}

const events = async (server: TestServer, type: string): Promise<AuditEvent[]> => (await server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === type);

describe('a remote MCP client signs in with OAuth and uses the Streamable HTTP endpoint', () => {
  let fx: BrokerFixture;
  let remote: RemoteClient;
  beforeAll(async () => {
    fx = await startBroker();
    await fx.grant(['echo']);
    remote = new RemoteClient(fx.server.url, resourceUrl('everything'));
    await remote.signInAndConnect(new TestBrowser(fx.server.url, fx.idp));
  });
  afterAll(() => fx.close());

  it('calls the granted tools with an access token bound to the endpoint, and the session is audited with the OAuth client', async () => {
    expect((await remote.client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect(JSON.stringify((await remote.client.callTool({ name: 'echo', arguments: { message: 'remote' } })).content)).toContain('remote');
    expect(await settle(remote.client.callTool({ name: 'get-env', arguments: {} }))).toMatchObject({ ok: false, code: -32001, data: { reason: 'tool_not_granted' } });
    const started = (await events(fx.server, 'mcp.session.start')).at(-1);
    expect(started).toMatchObject({ actor: 'alice@example.com', data: { transport: 'streamable-http', oauthClient: { id: remote.provider.info!.client_id, name: 'Test MCP client' } } });
    const { access_token: token } = remote.provider.saved!;
    // Bound to /mcp/everything: the federated endpoint and the API refuse it.
    const federated = await mcpFetch(fx.httpUrl(''), INITIALIZE, { token });
    expect(federated.status).toBe(401);
    expect(federated.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('refreshes a token the broker no longer takes, through the SDK, and goes on', async () => {
    const before = remote.provider.saved!;
    remote.provider.saved = { ...before, access_token: 'pco_unknown_token' };
    expect(JSON.stringify((await remote.client.callTool({ name: 'echo', arguments: { message: 'after refresh' } })).content)).toContain('after refresh');
    expect(remote.provider.saved.refresh_token).not.toBe(before.refresh_token);
    expect((await events(fx.server, 'oauth.token.refreshed')).length).toBeGreaterThan(0);
  });

  it('ends the session when its access token is revoked (RFC 7009)', async () => {
    const { access_token: token } = remote.provider.saved!;
    const ended = (await events(fx.server, 'mcp.session.end')).length;
    expect((await postForm(fx.server.url, '/oauth/revoke', { token, client_id: remote.provider.info!.client_id })).status).toBe(200);
    await expect.poll(async () => (await events(fx.server, 'mcp.session.end')).length).toBeGreaterThan(ended);
    const refused = await mcpFetch(fx.httpUrl(), INITIALIZE, { token });
    expect(refused.status).toBe(401);
  });
});

describe('a session answers a token only while that token is good', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { oauth: { accessTokenTtlSeconds: 2 } } });
    await fx.grant(['echo']);
  });
  afterAll(() => fx.close());

  it('refuses a request of a live session once its access token has expired (401), though the same token was accepted a moment before', async () => {
    const remote = new RemoteClient(fx.server.url, resourceUrl('everything'));
    await remote.signInAndConnect(new TestBrowser(fx.server.url, fx.idp));
    const { access_token: token } = remote.provider.saved!;
    const call = () => mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', id: 'x', method: 'ping' }, { token, session: remote.transport!.sessionId!, accept: 'application/json' });
    expect((await call()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const expired = await call();
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describeWithRedis('OAuth across two instances on one Redis', () => {
  let a: BrokerFixture;
  let b: TestServer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await startBrokerPair({}));
  });
  afterAll(() => close());

  it('a token issued on A works on B, and revoking it on A ends the session on B', async () => {
    await a.grant(['echo']);
    const signedIn = new RemoteClient(a.server.url, resourceUrl('everything'));
    await signedIn.signInAndConnect(new TestBrowser(a.server.url, a.idp));
    await signedIn.client.close();

    const onB = new RemoteClient(b.url, resourceUrl('everything'));
    onB.provider.info = signedIn.provider.info;
    onB.provider.saved = signedIn.provider.saved;
    await onB.connect();
    expect(JSON.stringify((await onB.client.callTool({ name: 'echo', arguments: { message: 'on B' } })).content)).toContain('on B');

    const ended = async () => (await b.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.session.end' && e.actor === 'alice@example.com').length;
    const before = await ended();
    expect((await postForm(a.server.url, '/oauth/revoke', { token: onB.provider.saved!.access_token, client_id: onB.provider.info!.client_id })).status).toBe(200);
    await expect.poll(ended).toBeGreaterThan(before);
  });
});

describe('access asked for from inside the client: the broker tool on the federated endpoint', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [
          { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 3600, autoApprove: true }] },
          { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
        ],
      },
    });
  });
  afterAll(() => fx.close());

  it('lets a person without a grant connect, file a request marked as an agent\'s, and see the tools appear once an approver grants it', async () => {
    const dave = await fx.signInAs('dave@example.com');
    const { client } = await fx.connectHttp(await dave.token(), '');
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['portcullis__request_access']);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);

    const bad = (await client.callTool({ name: 'portcullis__request_access', arguments: { server: 'everything', duration: 'soon', reason: 'x' } })) as { isError?: boolean; content: { text: string }[] };
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toMatch(/duration/);
    const tooMuch = (await client.callTool({ name: 'portcullis__request_access', arguments: { server: 'everything', tools: ['get-env'], duration: '30m', reason: 'x' } })) as { isError?: boolean; content: { text: string }[] };
    expect(tooMuch.isError).toBe(true);

    const filed = (await client.callTool({ name: 'portcullis__request_access', arguments: { server: 'everything', tools: ['echo'], duration: '30m', reason: 'triage of INC-42' } })) as { isError?: boolean; content: { text: string }[] };
    expect(filed.isError).toBeUndefined();
    const requestId = /Access request (\S+) is pending/.exec(filed.content[0]!.text)?.[1];
    expect(requestId).toBeDefined();
    // The rule auto-approves a person's own request; an agent's waits for a reviewer.
    const listed = await dave.gql('query($id: ID!) { accessRequest(id: $id) { status filedByAgent agentClient } }', { id: requestId });
    expect(listed.body.data).toEqual({ accessRequest: { status: 'PENDING', filedByAgent: true, agentClient: 'portcullis-test' } });
    const created = (await events(fx.server, 'access_request.created')).at(-1);
    expect(created?.data).toMatchObject({ filedByAgent: { client: 'portcullis-test' }, autoApprove: false });

    const lead = await fx.signInAs('lena@example.com', ['sre']);
    expect((await lead.gql('mutation($input: ReviewAccessRequestInput!) { reviewAccessRequest(input: $input) { status } }', { input: { requestId, decision: 'APPROVE' } })).body.data).toEqual({
      reviewAccessRequest: { status: 'APPROVED' },
    });
    await expect.poll(() => changed).toBeGreaterThan(0);
    await expect.poll(async () => (await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['everything__echo', 'portcullis__request_access']);
    expect(JSON.stringify((await client.callTool({ name: 'everything__echo', arguments: { message: 'granted' } })).content)).toContain('granted');

    // Its only server's grant revoked, the session lives on with the tool, to ask again.
    const grant = ((await dave.gql('{ grants(active: true) { items { id } } }')).body.data as { grants: { items: { id: string }[] } }).grants.items[0]!;
    const seen = changed;
    await lead.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }', { id: grant.id });
    await expect.poll(() => changed).toBeGreaterThan(seen);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['portcullis__request_access']);
    await client.close();
  });

  it('is not offered where the operator turned it off, nor on the WebSocket endpoints', async () => {
    const off = await startBroker({ overrides: { broker: { requestAccessTool: { enabled: false } } } });
    try {
      const erin = await off.signInAs('erin@example.com');
      const res = await mcpFetch(off.httpUrl(''), INITIALIZE, { token: await erin.token() });
      expect(res.status).toBe(403);
    } finally {
      await off.close();
    }
    await fx.grant(['echo']);
    const { client } = await fx.connect(await fx.token(), '');
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['everything__echo']);
    await client.close();
  });
});
