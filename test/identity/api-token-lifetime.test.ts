import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiTokenService } from '../../server/identity/api-tokens.js';
import { CredentialEvents } from '../../server/identity/credential-events.js';
import { issueCredential } from '../../server/identity/credentials.js';
import { Principals } from '../../server/identity/principal.js';
import type { Principal } from '../../server/identity/principal.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { ApiTokenRecord, Stores } from '../../server/stores/types.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { browserSignInForCli, confirm } from '../support/cli-login-browser.js';
import { describeOnEachStore } from '../support/each-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { createTestIdp, signIn } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { createApiToken, postGraphQL } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } };
const CREATE = 'mutation($name: String!, $scopes: [String!]!, $ttl: Int!) { createApiToken(name: $name, scopes: $scopes, ttlSeconds: $ttl) { token apiToken { id expiresAt } } }';
const HOUR = 3600;
const DAYS_30 = 30 * 24 * HOUR;

interface Created {
  token: string;
  apiToken: { id: string; expiresAt: string };
}

describeOnEachStore('how long a minted API token may live', (start) => {
  let idp: TestIdp;
  let server: TestServer;
  let cookie: string;

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    server = await start(brokerConfig(idp));
    cookie = await signIn(server.url, idp, ALICE);
  });
  afterAll(() => server.close());

  const mint = (credential: Record<string, string>, scopes: string[], ttl: number) => postGraphQL(server.url, { query: CREATE, variables: { name: 'minted', scopes, ttl } }, credential);
  const created = (res: Awaited<ReturnType<typeof mint>>) => {
    const data = res.body.data as { createApiToken: Created } | null;
    if (!data) throw new Error(`not created: ${JSON.stringify(res.body.errors)}`);
    return data.createApiToken;
  };
  const tokenOf = (bearer: string) => ({ authorization: `Bearer ${bearer}` });
  const idOf = (bearer: string) => bearer.split('_')[1]!;

  /** The token `portcullis login` gets: the broker's side of the loopback flow (test/cli/login.test.ts drives the CLI itself). */
  async function loginToken(): Promise<{ token: string; expiresAt: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const params = new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' });
    const callback = await confirm(await browserSignInForCli(server.url, `${server.url}/auth/cli/login?${params}`, idp, ALICE));
    const res = await fetch(`${server.url}/auth/cli/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: callback.searchParams.get('code'), code_verifier: verifier }) });
    expect(res.status).toBe(200);
    return (await res.json()) as { token: string; expiresAt: string };
  }

  describe('a token minted by another API token', () => {
    it('cannot outlive the token that mints it: a longer one ends when that token does, and says so', async () => {
      const parent = await createApiToken(server.url, cookie, ['api', 'mcp'], HOUR);
      const parentExpiry = (await server.stores.tokens.get(idOf(parent)))!.expiresAt;
      const capped = created(await mint(tokenOf(parent), ['mcp'], DAYS_30));
      expect(Date.parse(capped.apiToken.expiresAt)).toBe(parentExpiry);
      expect((await server.stores.tokens.get(capped.apiToken.id))!.expiresAt).toBe(parentExpiry);
      const events = (await server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'auth.token.created');
      expect(events.find((e) => e.data.tokenId === capped.apiToken.id)?.data.expiresAt).toBe(new Date(parentExpiry).toISOString());

      const within = created(await mint(tokenOf(parent), ['api'], HOUR / 2));
      expect(Date.parse(within.apiToken.expiresAt)).toBeLessThan(parentExpiry);
      // Nor does its child get further than it: each generation is bound by the one before.
      const grandchild = created(await mint(tokenOf(within.token), ['api'], HOUR));
      expect(grandchild.apiToken.expiresAt).toBe(within.apiToken.expiresAt);
    });
  });

  describe('a token `portcullis login` got for a browser sign-in', () => {
    it('mints a 30-day token, though it ends with the browser session (the README flow)', async () => {
      const login = await loginToken();
      expect(Date.parse(login.expiresAt)).toBeLessThan(Date.now() + DAYS_30 * 1000);
      const siem = created(await mint(tokenOf(login.token), ['mcp'], DAYS_30));
      expect(Date.parse(siem.apiToken.expiresAt)).toBeGreaterThan(Date.parse(login.expiresAt));
      expect((await server.stores.tokens.get(idOf(login.token)))?.origin).toBe('login');
      expect((await server.stores.tokens.get(siem.apiToken.id))?.origin).toBe('minted');
      const events = (await server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'auth.token.created');
      expect(events.find((e) => e.data.tokenId === idOf(login.token))?.data.origin).toBe('login');
      expect(events.find((e) => e.data.tokenId === siem.apiToken.id)?.data.origin).toBe('minted');
    });
  });

  describe('a browser session', () => {
    it('mints a 30-day token from the console', async () => {
      const siem = created(await mint({ cookie }, ['audit:read'], DAYS_30));
      expect(Date.parse(siem.apiToken.expiresAt)).toBeGreaterThan(Date.now() + (DAYS_30 - 60) * 1000);
      expect((await server.stores.tokens.get(siem.apiToken.id))?.origin).toBe('minted');
    });
  });

  describe('a token stored before tokens recorded their origin', () => {
    it('counts as minted: even a login token of that version cannot mint past its own end', async () => {
      const { user } = (await server.stores.tokens.get(idOf(await createApiToken(server.url, cookie, ['api'], 60))))!;
      const credential = issueCredential('pcl');
      const now = Date.now();
      const { origin: _, ...legacy }: ApiTokenRecord = { id: credential.id, name: 'portcullis CLI', user, scopes: ['api', 'mcp'], secretHash: credential.secretHash, createdAt: now, expiresAt: now + HOUR * 1000, origin: 'login' };
      await server.stores.tokens.create(legacy as ApiTokenRecord);
      const capped = created(await mint(tokenOf(credential.value), ['mcp'], DAYS_30));
      expect(Date.parse(capped.apiToken.expiresAt)).toBe(now + HOUR * 1000);
    });
  });
});

describe('minting with a credential that is no live sign-in or token', () => {
  let stores: Stores;
  let tokens: ApiTokenService;
  const clock = new ManualClock();
  const user = { id: 'corp:alice@example.com', idp: 'corp', nameId: 'alice@example.com', email: 'alice@example.com', displayName: null, groups: [] };
  // Given every scope, as no such credential is today: the refusal must not rest on scopes alone.
  const principal = (credential: Principal['credential']): Principal => ({ user, roles: [], scopes: new Set(['api', 'mcp', 'audit:read']), credential });

  beforeAll(async () => {
    stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-tokens-')), clock });
    tokens = new ApiTokenService({ tokens: stores.tokens, audit: stores.audit, clock, principals: new Principals({ idps: [{ id: 'corp', emailDomains: undefined }], roles: [] }), maxTtlSeconds: DAYS_30, events: new CredentialEvents(stores.events) });
  });
  afterAll(() => stores.close());

  it('refuses an OAuth authorization (an MCP client\'s access) and a chat integration\'s one action', async () => {
    const later = clock.now() + DAYS_30 * 1000;
    for (const credential of [
      { kind: 'oauth', id: 'family', expiresAt: later, tokenExpiresAt: later, client: { id: 'client', name: 'Client' } },
      { kind: 'integration', integration: 'slack', id: 'U1', team: 'T1', expiresAt: later },
    ] as const) {
      await expect(tokens.create(principal(credential), { name: 'x', scopes: ['mcp'], ttlSeconds: 60 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(await stores.tokens.listByUser(user.id)).toEqual([]);
  });

  it('refuses a token revoked after the request that brings it was authenticated', async () => {
    const gone = principal({ kind: 'token', id: 'revoked-meanwhile', expiresAt: clock.now() + 60_000 });
    await expect(tokens.create(gone, { name: 'x', scopes: ['api'], ttlSeconds: 30 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('mints nothing with a token that lapsed just after it was read: no dead token is made', async () => {
    const { record: parent } = await tokens.create(principal({ kind: 'session', id: 's', expiresAt: clock.now() + DAYS_30 * 1000 }), { name: 'parent', scopes: ['api'], ttlSeconds: 60 });
    // The store finds it live; its minute is up by the time the child would be made.
    const store = stores.tokens;
    const lapsing: typeof store = {
      create: (record) => store.create(record),
      listByUser: (userId) => store.listByUser(userId),
      delete: (id) => store.delete(id),
      get: async (id) => {
        const record = await store.get(id);
        clock.advance(60_000);
        return record;
      },
    };
    const racing = new ApiTokenService({ tokens: lapsing, audit: stores.audit, clock, principals: new Principals({ idps: [{ id: 'corp', emailDomains: undefined }], roles: [] }), maxTtlSeconds: DAYS_30, events: new CredentialEvents(stores.events) });
    await expect(racing.create(principal({ kind: 'token', id: parent.id, expiresAt: parent.expiresAt }), { name: 'child', scopes: ['api'], ttlSeconds: 30 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await stores.tokens.listByUser(user.id)).map((t) => t.name)).not.toContain('child');
  });

  it('issues login tokens only for a browser session', async () => {
    const viaToken = principal({ kind: 'token', id: 'any', expiresAt: clock.now() + 60_000 });
    await expect(tokens.createForLogin(viaToken, { name: 'x', scopes: ['api'], ttlSeconds: 60 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
