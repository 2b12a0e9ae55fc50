import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeOverWs, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { createClient } from 'graphql-ws';

const CREATE = 'mutation($name: String!, $scopes: [String!]!, $ttl: Int!) { createApiToken(name: $name, scopes: $scopes, ttlSeconds: $ttl) { token apiToken { id name scopes createdAt expiresAt } } }';

describe('API tokens', () => {
  let server: TestServer;
  let corp: TestIdp;
  let aliceCookie: string;
  let bobCookie: string;

  const gql = (query: string, variables: Record<string, unknown>, headers: Record<string, string>) => postGraphQL(server.url, { query, variables }, headers);
  const create = async (cookie: string, scopes: string[], ttl = 3600, name = 'laptop') => {
    const res = await gql(CREATE, { name, scopes, ttl }, { cookie });
    return (res.body.data as { createApiToken: { token: string; apiToken: { id: string; scopes: string[]; createdAt: string; expiresAt: string } } } | null)?.createApiToken ?? res;
  };

  beforeAll(async () => {
    corp = await createTestIdp('corp');
    server = await startTestServer({
      config: configTrusting([corp], { apiTokens: { maxTtlSeconds: 86400 } }),
    });
    aliceCookie = await signIn(server.url, corp);
    bobCookie = await signIn(server.url, corp, { nameId: 'bob@example.com', attributes: { email: 'bob@example.com' } });
  });
  afterAll(() => server.close());

  it('returns the token once, stores only its hash, and lets it act as the user', async () => {
    const created = (await create(aliceCookie, ['api', 'mcp'])) as { token: string; apiToken: { id: string; scopes: string[]; createdAt: string; expiresAt: string } };
    expect(created.token).toMatch(/^pcl_[A-Za-z0-9-]+_[A-Za-z0-9-]{40,}$/);
    expect(created.apiToken.scopes).toEqual(['api', 'mcp']);
    expect(Date.parse(created.apiToken.expiresAt) - Date.parse(created.apiToken.createdAt)).toBe(3_600_000);
    const stored = await server.stores.tokens.get(created.apiToken.id);
    expect(JSON.stringify(stored)).not.toContain(created.token.split('_')[2]);
    const me = await gql('{ me { email } }', {}, { authorization: `Bearer ${created.token}` });
    expect(me.body).toEqual({ data: { me: { email: 'alice@example.com' } } });
  });

  it('lists only the caller\'s own tokens', async () => {
    const mine = (await create(aliceCookie, ['api'], 3600, 'listed')) as { apiToken: { id: string } };
    await create(bobCookie, ['api'], 3600, 'bobs');
    const listed = await gql('{ apiTokens { id name } }', {}, { cookie: aliceCookie });
    const names = (listed.body.data as { apiTokens: { id: string; name: string }[] }).apiTokens.map((t) => t.name);
    expect(names).toContain('listed');
    expect(names).not.toContain('bobs');
    expect((listed.body.data as { apiTokens: { id: string }[] }).apiTokens.map((t) => t.id)).toContain(mine.apiToken.id);
  });

  it('revokes a token at once; another user cannot revoke it and learns nothing', async () => {
    const created = (await create(aliceCookie, ['api'])) as { token: string; apiToken: { id: string } };
    const bobTry = await gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: created.apiToken.id }, { cookie: bobCookie });
    const unknown = await gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: 'no-such-token' }, { cookie: bobCookie });
    expect(bobTry.body.errors?.[0]).toMatchObject({ message: 'API token not found', extensions: { code: 'NOT_FOUND' } });
    expect(unknown.body.errors?.[0]).toEqual(bobTry.body.errors?.[0]);
    const revoked = await gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: created.apiToken.id }, { cookie: aliceCookie });
    expect(revoked.body).toEqual({ data: { revokeApiToken: { id: created.apiToken.id } } });
    const after = await gql('{ me { email } }', {}, { authorization: `Bearer ${created.token}` });
    expect(after.status).toBe(401);
    expect(after.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses unknown scopes, empty names, and a ttl over apiTokens.maxTtlSeconds, storing nothing', async () => {
    const before = (await server.stores.tokens.listByUser('corp:alice@example.com')).length;
    for (const [scopes, ttl, name, message] of [
      [['root'], 3600, 'x', /unknown scope "root"/],
      [[], 3600, 'x', /at least one/],
      [['api'], 86401, 'x', /ttlSeconds must be between 1 and 86400/],
      [['api'], 0, 'x', /ttlSeconds/],
      [['api'], 3600, '  ', /name must be/],
    ] as const) {
      const res = await gql(CREATE, { name, scopes, ttl }, { cookie: aliceCookie });
      expect(res.body.errors?.[0]?.message).toMatch(message);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    }
    expect((await server.stores.tokens.listByUser('corp:alice@example.com')).length).toBe(before);
  });

  it('never lets a narrow token mint a wider one, nor use the API without the api scope', async () => {
    const mcpOnly = (await create(aliceCookie, ['mcp'])) as { token: string };
    const me = await gql('{ me { email } }', {}, { authorization: `Bearer ${mcpOnly.token}` });
    expect(me.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const api = (await create(aliceCookie, ['api'])) as { token: string };
    const widen = await gql(CREATE, { name: 'wider', scopes: ['api', 'audit:read'], ttl: 60 }, { authorization: `Bearer ${api.token}` });
    expect(widen.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });

  it('audits creation and revocation without the token', async () => {
    const created = (await create(aliceCookie, ['audit:read'], 3600, 'siem')) as { token: string; apiToken: { id: string } };
    await gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: created.apiToken.id }, { cookie: aliceCookie });
    const events = (await server.stores.audit.read({ limit: 1000 })).filter((e) => e.data.tokenId === created.apiToken.id);
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['auth.token.created', 'alice@example.com'],
      ['auth.token.revoked', 'alice@example.com'],
    ]);
    expect(events[0]?.data).toMatchObject({ name: 'siem', scopes: ['audit:read'] });
    expect(JSON.stringify(events)).not.toContain(created.token);
  });

  it('rejects a malformed or unknown bearer token with 401, never falling back to the cookie', async () => {
    for (const authorization of ['Bearer pcl_nope_nope', 'Basic abc', 'Bearer']) {
      const res = await gql('{ identityProviders { id } }', {}, { authorization, cookie: aliceCookie });
      expect(res.status).toBe(401);
    }
  });

  it('refuses a session cookie sent from another origin (CSRF)', async () => {
    const res = await gql('{ me { email } }', {}, { cookie: aliceCookie, origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    const ok = await gql('{ me { email } }', {}, { cookie: aliceCookie, origin: new URL(TEST_PUBLIC_URL).origin });
    expect(ok.body).toEqual({ data: { me: { email: 'alice@example.com' } } });
  });

  describe('over graphql-ws', () => {
    const wsClient = (connectionParams?: Record<string, unknown>, headers?: Record<string, string>) =>
      createClient({
        url: `${server.wsUrl}/graphql`,
        retryAttempts: 0,
        lazy: true,
        // Keep one socket across operations, so later ones run on the connection the first opened.
        lazyCloseTimeout: 60_000,
        connectionParams,
        webSocketImpl: class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { headers });
          }
        },
      });

    it('authenticates with connectionParams.authorization', async () => {
      const { token } = (await create(aliceCookie, ['api'])) as { token: string };
      const client = wsClient({ authorization: `Bearer ${token}` });
      expect(await executeOverWs(client, '{ me { email } }')).toEqual({ data: { me: { email: 'alice@example.com' } } });
      await client.dispose();
    });

    it('closes with 4403 on a bad token', async () => {
      const client = wsClient({ authorization: 'Bearer pcl_bad_bad' });
      await expect(executeOverWs(client, '{ me { email } }')).rejects.toMatchObject({ code: 4403 });
      await client.dispose();
    });

    it('closes the socket a revoked token opened (4401) and refuses it from then on', async () => {
      const created = (await create(aliceCookie, ['api'])) as { token: string; apiToken: { id: string } };
      const client = wsClient({ authorization: `Bearer ${created.token}` });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on('closed', (event) => resolve(event as { code: number; reason: string })));
      expect(await executeOverWs(client, '{ me { email } }')).toEqual({ data: { me: { email: 'alice@example.com' } } });
      await gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: created.apiToken.id }, { cookie: aliceCookie });
      expect(await closed).toMatchObject({ code: 4401, reason: 'API token revoked' });
      await expect(executeOverWs(client, '{ me { email } }')).rejects.toMatchObject({ code: 4403 });
      await client.dispose();
    });

    it('accepts the session cookie from our own origin and refuses the upgrade from another (403)', async () => {
      const own = wsClient(undefined, { cookie: aliceCookie, origin: new URL(TEST_PUBLIC_URL).origin });
      expect(await executeOverWs(own, '{ me { email } }')).toEqual({ data: { me: { email: 'alice@example.com' } } });
      await own.dispose();
      const ws = new WebSocket(`${server.wsUrl}/graphql`, 'graphql-transport-ws', { headers: { cookie: aliceCookie, origin: 'https://evil.example' } });
      const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
      expect(status).toBe(403);
    });
  });
});
