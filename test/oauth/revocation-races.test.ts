import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TokenFamilyRecord } from '../../server/oauth/types.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { ExpiringRecords, OAuthStores, Stores } from '../../server/stores/types.js';
import { describeOnEachStore } from '../support/each-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { authorizeUrl, bearer, mcpIdentity, mcpRefusal, oauthBrokerForSuite, pkcePair, postForm, registerClient, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { postGraphQL } from '../support/test-server.js';

const HOUR = 3_600_000;
const REDIRECT = 'http://127.0.0.1:47003/callback';
const LIST = '{ oauthAuthorizations { id clientId } }';
const REVOKE = 'mutation($id: ID!) { revokeOAuthAuthorization(id: $id) { id } }';

/** Holds the next two takes from `records` until both have come, then lets them race. */
function raceNextTwoTakes<T extends { expiresAt: number }>(records: ExpiringRecords<T>): void {
  const take = records.take.bind(records);
  let arrived = 0;
  let release!: () => void;
  const both = new Promise<void>((resolve) => (release = resolve));
  vi.spyOn(records, 'take').mockImplementation(async (key) => {
    arrived += 1;
    if (arrived === 2) release();
    if (arrived <= 2) await both;
    return take(key);
  });
}

/** Where a revocation can land while a refresh is under way: after the refresh read the family, before it wrote it back. */
const refreshSteps = [
  {
    step: 'as the refresh token is taken',
    meanwhile(oauth: OAuthStores, action: () => Promise<void>) {
      const take = oauth.refreshTokens.take.bind(oauth.refreshTokens);
      vi.spyOn(oauth.refreshTokens, 'take').mockImplementationOnce(async (key) => {
        await action();
        return take(key);
      });
    },
  },
  {
    step: 'as the family is written',
    meanwhile(oauth: OAuthStores, action: () => Promise<void>) {
      const put = oauth.families.put.bind(oauth.families);
      vi.spyOn(oauth.families, 'put').mockImplementationOnce(async (key, family) => {
        await action();
        return put(key, family);
      });
    },
  },
];

describeOnEachStore('a revoked authorization stays revoked, whatever token request is under way', (start) => {
  const broker = oauthBrokerForSuite(start);
  let browser: TestBrowser;
  beforeAll(() => {
    browser = new TestBrowser(broker.server.url, broker.idp);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const oauth = () => broker.server.stores.oauth;
  const token = (form: Record<string, string>) => postForm(broker.server.url, '/oauth/token', form);
  const refresh = (clientId: string, refreshToken: string) => token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
  const exchange = ({ clientId, code, verifier }: { clientId: string; code: string; verifier: string }) =>
    token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT });
  const authorizationsOf = async (clientId: string) => {
    const { body } = await postGraphQL(broker.server.url, { query: LIST }, { cookie: browser.cookie! });
    return (body.data as { oauthAuthorizations: { id: string; clientId: string }[] }).oauthAuthorizations.filter((a) => a.clientId === clientId).map((a) => a.id);
  };
  const revokeAuthorization = async (id: string) => {
    const { body } = await postGraphQL(broker.server.url, { query: REVOKE, variables: { id } }, { cookie: browser.cookie! });
    expect(body).toEqual({ data: { revokeOAuthAuthorization: { id } } });
  };
  const auditOf = async (familyId: string) => (await broker.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.data.familyId === familyId);
  const refusalsOf = async (clientId: string) => (await broker.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'oauth.token.refused' && e.data.clientId === clientId);

  /** A new client's approved code (Alice consents), with its verifier. */
  async function approved() {
    const clientId = (await registerClient(broker.server.url, { client_name: 'Race probe', redirect_uris: [REDIRECT] })).body.client_id as string;
    const pkce = pkcePair();
    const url = authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce.challenge, code_challenge_method: 'S256', state: 's', resource: resourceUrl('a') });
    return { clientId, code: (await browser.approve(url)).searchParams.get('code')!, verifier: pkce.verifier };
  }

  /** A connected client: its id, its tokens, and the id of its authorization (token family). */
  async function connected() {
    const approval = await approved();
    const answer = await exchange(approval);
    expect(answer.status).toBe(200);
    const [id] = await authorizationsOf(approval.clientId);
    return { clientId: approval.clientId, tokens: answer.body as { access_token: string; refresh_token: string }, id: id! };
  }

  /** Tokens an answer handed out are refused: the access token at its MCP endpoint, the refresh token at the token endpoint. */
  async function expectRefused(clientId: string, tokens: Record<string, unknown>) {
    const { mcpAuthenticator } = mcpIdentity(broker.config, broker.server.stores);
    expect(await mcpRefusal(mcpAuthenticator.authenticate(bearer(tokens.access_token as string), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(await refresh(clientId, tokens.refresh_token as string)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  }

  describe.each(refreshSteps)('a revocation $step, while a refresh of the authorization is under way', ({ meanwhile }) => {
    it('is not undone: the refresh is refused, the family cannot be written again, and no token the refresh wrote survives', async () => {
      const { clientId, tokens, id } = await connected();
      const family = (await oauth().families.get(id))!;
      const accessPuts = vi.spyOn(oauth().accessTokens, 'put');
      const refreshPuts = vi.spyOn(oauth().refreshTokens, 'put');
      meanwhile(oauth(), () => revokeAuthorization(id));

      expect(await refresh(clientId, tokens.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(await authorizationsOf(clientId)).toEqual([]);
      expect(await oauth().families.get(id)).toBeNull();
      expect(await oauth().families.put(id, family)).toBe(false);
      expect(accessPuts).toHaveBeenCalled();
      for (const [tokenId] of accessPuts.mock.calls) expect(await oauth().accessTokens.get(tokenId)).toBeNull();
      const issuedRefreshTokens = refreshPuts.mock.calls.filter(([, record]) => !record.rotated);
      expect(issuedRefreshTokens).not.toEqual([]);
      for (const [tokenId] of issuedRefreshTokens) expect(await oauth().refreshTokens.get(tokenId)).toBeNull();
      await expectRefused(clientId, tokens);
      expect((await auditOf(id)).filter((e) => e.type === 'oauth.token.refreshed')).toEqual([]);
      expect((await refusalsOf(clientId)).map((e) => e.data.reason)).toEqual(['family_revoked']);
    });
  });

  it('two refreshes racing with one refresh token are a replay: the authorization is revoked, and neither gets a token that works (RFC 9700 §4.14.2)', async () => {
    const { clientId, tokens, id } = await connected();
    raceNextTwoTakes(oauth().refreshTokens);
    const answers = await Promise.all([refresh(clientId, tokens.refresh_token), refresh(clientId, tokens.refresh_token)]);

    expect(answers).toContainEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
    for (const { body } of answers.filter((a) => a.status === 200)) await expectRefused(clientId, body);
    await expectRefused(clientId, tokens);
    expect(await authorizationsOf(clientId)).toEqual([]);
    expect((await auditOf(id)).filter((e) => e.type === 'oauth.token.revoked').map((e) => e.data.reason)).toEqual(['refresh_token_reused']);
  });

  it('two exchanges racing with one code are a replay: what it bought is revoked, and neither gets a token that works (RFC 6749 §4.1.2)', async () => {
    const approval = await approved();
    raceNextTwoTakes(oauth().codes);
    const answers = await Promise.all([exchange(approval), exchange(approval)]);

    expect(answers).toContainEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
    for (const { body } of answers.filter((a) => a.status === 200)) await expectRefused(approval.clientId, body);
    expect(await authorizationsOf(approval.clientId)).toEqual([]);
    expect((await refusalsOf(approval.clientId)).map((e) => e.data.reason)).toContain('code_reused');
  });

  it('a code refused at its exchange leaves no mark: presented again, it is unknown, not a replay', async () => {
    const approval = await approved();
    expect(await exchange({ ...approval, verifier: pkcePair().verifier })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await exchange(approval)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refusalsOf(approval.clientId)).map((e) => e.data.reason)).toEqual(['pkce_mismatch']);
  });
});

/** The family store's side of it, on a clock the test moves: `open` gives a backend's stores, and opens them again as a restart would. */
function revokedFamilies(open: (clock: ManualClock) => Promise<{ stores: Stores; reopen: () => Promise<Stores> }>) {
  return () => {
    const opened: Stores[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const family = (id: string, clock: ManualClock): TokenFamilyRecord => ({
      id,
      clientId: 'pcc_x',
      clientName: 'x',
      resource: resourceUrl('a'),
      scope: 'mcp',
      user: { id: 'corp:alice', idp: 'corp', nameId: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: [] },
      accessTokens: [],
      loginSessionId: 'ls1',
      createdAt: clock.now(),
      expiresAt: clock.now() + HOUR,
    });
    const fixture = async () => {
      const clock = new ManualClock();
      const { stores, reopen } = await open(clock);
      opened.push(stores);
      return { clock, families: stores.oauth.families, reopen };
    };

    it('never writes a taken family again until it would have ended, across a restart', async () => {
      const { clock, families, reopen } = await fixture();
      const f1 = family('f1', clock);
      expect(await families.put('f1', f1)).toBe(true);
      expect(await families.take('f1')).toEqual(f1);
      expect(await families.put('f1', f1)).toBe(false);
      expect(await families.get('f1')).toBeNull();
      expect(await families.listByUser(f1.user.id)).toEqual([]);
      await opened.pop()!.close();
      const again = await reopen();
      opened.push(again);
      expect(await again.oauth.families.put('f1', f1)).toBe(false);
      clock.advance(HOUR);
      expect(await again.oauth.families.put('f1', { ...f1, expiresAt: clock.now() + HOUR })).toBe(true);
    });

    it('revokes an id ahead of its family (one being written at that moment) until the time given, and never shortens a revocation', async () => {
      const { clock, families } = await fixture();
      expect(await families.take('f2', clock.now() + 2 * HOUR)).toBeNull();
      expect(await families.put('f2', family('f2', clock))).toBe(false);
      expect(await families.take('f2', clock.now() + HOUR)).toBeNull();
      clock.advance(HOUR);
      expect(await families.put('f2', family('f2', clock))).toBe(false);
      clock.advance(HOUR);
      expect(await families.put('f2', family('f2', clock))).toBe(true);
    });
  };
}

describe(
  'revoked token families (embedded store)',
  revokedFamilies(async (clock) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-families-'));
    const open = () => createEmbeddedStores({ dataDir, clock });
    return { stores: await open(), reopen: open };
  }),
);

describeWithRedis(
  'revoked token families (Redis store)',
  revokedFamilies(async (clock) => {
    const prefix = uniquePrefix();
    const open = () => redisStoresForTest({ prefix, clock });
    return { stores: await open(), reopen: open };
  }),
);
