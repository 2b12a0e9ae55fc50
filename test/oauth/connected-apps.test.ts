import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { TOKEN_FAMILIES_PER_USER } from '../../server/stores/types.js';
import type { UserIdentity } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import { INITIALIZE, mcpFetch, openSession } from '../support/mcp-http.js';
import { connectWithSdk, DCR_METADATA, MemoryOAuthProvider, postForm, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { describeWithRedis } from '../support/redis.js';
import type { TestServer } from '../support/test-server.js';

const LIST = '{ oauthAuthorizations { id clientId clientName resource scope createdAt expiresAt } }';
const REVOKE = 'mutation($id: ID!) { revokeOAuthAuthorization(id: $id) { id clientName } }';

interface Authorization {
  id: string;
  clientId: string;
  clientName: string;
  resource: string;
  scope: string;
  createdAt: string;
  expiresAt: string;
}

const authorizations = async (person: BrokerPerson): Promise<Authorization[]> => ((await person.gql(LIST)).body.data as { oauthAuthorizations: Authorization[] }).oauthAuthorizations;
const sessionEnds = async (server: TestServer): Promise<AuditEvent[]> => (await server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.session.end' && e.actor === 'alice@example.com');

/** Alice connects a client to /mcp/everything through the browser leg; its tokens and client id. */
async function aliceConnects(fx: BrokerFixture) {
  const provider = new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);
  const tokens = await connectWithSdk(fx.server.url, new TestBrowser(fx.server.url, fx.idp), provider, resourceUrl('everything'));
  return { tokens, clientId: provider.info!.client_id };
}

describe('connected apps in the GraphQL API: people list and revoke the MCP clients they connected by OAuth', () => {
  let fx: BrokerFixture;
  let bob: BrokerPerson;
  beforeAll(async () => {
    fx = await startBroker();
    await fx.grant(['echo']);
    bob = await fx.signInAs('bob@example.com');
  });
  afterAll(() => fx.close());

  it("lists the caller's live authorizations only, naming client, endpoint, scope and lifetime", async () => {
    const before = Date.now();
    const { clientId } = await aliceConnects(fx);
    const mine = await authorizations(fx);
    expect(mine).toContainEqual(expect.objectContaining({ clientId, clientName: 'Test MCP client', resource: resourceUrl('everything'), scope: 'mcp' }));
    const listed = mine.find((a) => a.clientId === clientId)!;
    expect(Date.parse(listed.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(listed.expiresAt)).toBeGreaterThan(Date.parse(listed.createdAt));
    expect(await authorizations(bob)).toEqual([]);
  });

  it('answers NOT_FOUND alike to another person revoking it and to an unknown id, and the authorization lives on', async () => {
    const { tokens } = await aliceConnects(fx);
    const id = (await authorizations(fx)).at(-1)!.id;
    for (const [person, target] of [[bob, id], [fx, 'no-such-authorization']] as const) {
      const answer = await person.gql(REVOKE, { id: target });
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      expect(answer.body.errors?.[0]?.message).toBe('OAuth authorization not found');
    }
    expect((await authorizations(fx)).map((a) => a.id)).toContain(id);
    expect((await mcpFetch(fx.httpUrl(), INITIALIZE, { token: tokens.access_token, accept: 'application/json' })).status).toBe(200);
  });

  it('revoking ends it at once: the access token is refused at /mcp, the refresh token fails, the live MCP session closes, and it is audited', async () => {
    const { tokens, clientId } = await aliceConnects(fx);
    await openSession(fx.httpUrl(), tokens.access_token);
    const ended = (await sessionEnds(fx.server)).length;
    const { id } = (await authorizations(fx)).find((a) => a.clientId === clientId)!;

    expect((await fx.gql(REVOKE, { id })).body).toEqual({ data: { revokeOAuthAuthorization: { id, clientName: 'Test MCP client' } } });
    await expect.poll(async () => (await sessionEnds(fx.server)).length).toBeGreaterThan(ended);
    const refused = await mcpFetch(fx.httpUrl(), INITIALIZE, { token: tokens.access_token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await postForm(fx.server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: clientId })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await authorizations(fx)).map((a) => a.id)).not.toContain(id);
    expect((await fx.gql(REVOKE, { id })).body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const revoked = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'oauth.token.revoked' && e.data.familyId === id);
    expect(revoked).toEqual([expect.objectContaining({ actor: 'alice@example.com', data: expect.objectContaining({ clientId, reason: 'revoked_by_user', via: 'api' }) })]);
  });

  it('needs the api scope, like API tokens', async () => {
    const token = await fx.token(['mcp']);
    const res = await fetch(`${fx.server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: LIST }) });
    expect(((await res.json()) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('a bound on authorizations per person', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker();
  });
  afterAll(() => fx.close());

  it(`refuses the code exchange (invalid_grant, audited) once the person holds ${TOKEN_FAMILIES_PER_USER} live authorizations, until one is revoked`, async () => {
    const now = Date.now();
    const { me } = (await fx.gql('{ me { id idp email displayName groups } }')).body.data as { me: Omit<UserIdentity, 'nameId'> };
    const user: UserIdentity = { ...me, nameId: me.email };
    for (let i = 0; i < TOKEN_FAMILIES_PER_USER; i++) {
      await fx.server.stores.oauth.families.put(`held${i}`, { id: `held${i}`, clientId: 'pcc_x', clientName: 'x', resource: resourceUrl('everything'), scope: 'mcp', user, accessTokens: [], loginSessionId: 'ls', createdAt: now, expiresAt: now + 3_600_000 });
    }
    await expect(aliceConnects(fx)).rejects.toThrow();
    const refused = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'oauth.token.refused');
    expect(refused.at(-1)).toMatchObject({ actor: 'alice@example.com', data: { reason: 'too_many_authorizations' } });
    expect((await fx.server.stores.audit.read({ limit: 10_000 })).some((e) => e.type === 'oauth.token.issued')).toBe(false);

    expect((await fx.gql(REVOKE, { id: 'held0' })).body.data).toEqual({ revokeOAuthAuthorization: { id: 'held0', clientName: 'x' } });
    await aliceConnects(fx);
  });
});

describeWithRedis('connected apps across instances on one Redis', () => {
  let a: BrokerFixture;
  let b: TestServer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await startBrokerPair({}));
    await a.grant(['echo']);
  });
  afterAll(() => close());

  it('revoking on A closes the MCP session on B and B refuses the token', async () => {
    const { tokens } = await aliceConnects(a);
    await openSession(`${b.url}/mcp/everything`, tokens.access_token);
    const ended = (await sessionEnds(b)).length;
    const [{ id }] = (await authorizations(a)) as [Authorization];
    expect((await a.gql(REVOKE, { id })).body.data).toEqual({ revokeOAuthAuthorization: { id, clientName: 'Test MCP client' } });
    await expect.poll(async () => (await sessionEnds(b)).length).toBeGreaterThan(ended);
    expect((await mcpFetch(`${b.url}/mcp/everything`, INITIALIZE, { token: tokens.access_token })).status).toBe(401);
  });
});
