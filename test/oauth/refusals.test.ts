import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config/schema.js';
import { ManualClock } from '../support/manual-clock.js';
import {
  auditChain,
  authorizeUrl,
  bearer,
  mcpIdentity,
  mcpRefusal,
  oauthConfig,
  pkcePair,
  postForm,
  registerClient,
  resourceUrl,
  TestBrowser,
} from '../support/oauth-client.js';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { createApiToken, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const REDIRECT = 'http://127.0.0.1:47002/callback';
const failure = mcpRefusal;

describe('OAuth refusals: each with the error its RFC names', () => {
  let idp: TestIdp;
  let server: TestServer;
  let clock: ManualClock;
  let config: ReturnType<typeof oauthConfig>;
  let clientId: string;
  let browser: TestBrowser;
  beforeAll(async () => {
    idp = await createTestIdp('corp');
    clock = new ManualClock();
    config = oauthConfig(idp, { accessTokenTtlSeconds: 60 });
    server = await startTestServer({ config, clock });
    clientId = (await registerClient(server.url, { client_name: 'Refusal probe', redirect_uris: [REDIRECT] })).body.client_id as string;
    browser = new TestBrowser(server.url, idp);
  });
  afterAll(() => server.close());

  /** A valid request, with `changes` applied (undefined removes a parameter). */
  const request = (changes: Record<string, string | undefined> = {}) => {
    const pkce = pkcePair();
    const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce.challenge, code_challenge_method: 'S256', state: 'st-1', resource: resourceUrl('a'), ...changes };
    return { url: authorizeUrl(params), verifier: pkce.verifier };
  };
  const codeFor = async (changes: Record<string, string | undefined> = {}) => {
    const { url, verifier } = request(changes);
    const callback = await browser.approve(url);
    return { code: callback.searchParams.get('code')!, verifier };
  };
  const exchange = (code: string, verifier: string, changes: Record<string, string> = {}) =>
    postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT, ...changes });
  const redirectError = async (changes: Record<string, string | undefined>) => {
    const opened = await browser.open(request(changes).url);
    if (!('redirect' in opened)) throw new Error('expected a redirect');
    return Object.fromEntries(opened.redirect.searchParams);
  };

  it('advertises what MCP clients check (RFC 8414, RFC 9728), at the root and path-inserted', async () => {
    const as = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(as).toMatchObject({
      issuer: TEST_PUBLIC_URL,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      registration_endpoint: `${TEST_PUBLIC_URL}/oauth/register`,
      revocation_endpoint: `${TEST_PUBLIC_URL}/oauth/revoke`,
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      grant_types_supported: ['authorization_code', 'refresh_token'],
    });
    expect(await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()).toEqual(as);
    expect(await (await fetch(`${server.url}/.well-known/oauth-authorization-server/mcp/a`)).json()).toEqual(as);
    const prm = await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp/a`);
    expect(prm.headers.get('access-control-allow-origin')).toBe('*');
    expect(await prm.json()).toMatchObject({ resource: resourceUrl('a'), authorization_servers: [TEST_PUBLIC_URL], scopes_supported: ['mcp'] });
    expect(await (await fetch(`${server.url}/.well-known/oauth-protected-resource`)).json()).toMatchObject({ resource: resourceUrl() });
    expect(await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json()).toMatchObject({ resource: resourceUrl() });
    expect((await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp/unknown`)).status).toBe(404);
  });

  it('challenges a request without a token with resource_metadata and scope (401, no error code)', async () => {
    const { mcpAuthenticator } = mcpIdentity(config, server.stores, clock);
    const refused = await failure(mcpAuthenticator.authenticate({}, resourceUrl('a'), undefined));
    expect(refused).toEqual({ status: 401, error: null, challenge: `Bearer realm="portcullis", resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/a", scope="mcp"` });
    expect(await failure(mcpAuthenticator.authenticate({ authorization: 'Basic abc' }, resourceUrl('a'), undefined))).toEqual(refused);
    expect(await failure(mcpAuthenticator.authenticate(bearer('pco_unknown_token'), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
  });

  it('takes API tokens with the mcp scope, and answers 403 insufficient_scope to one without', async () => {
    const cookie = await signIn(server.url, idp);
    const { mcpAuthenticator } = mcpIdentity(config, server.stores, clock);
    const mcp = await createApiToken(server.url, cookie, ['mcp']);
    expect((await mcpAuthenticator.authenticate(bearer(mcp), resourceUrl('b'), undefined)).credential.kind).toBe('token');
    const apiOnly = await createApiToken(server.url, cookie, ['api']);
    const refused = await failure(mcpAuthenticator.authenticate(bearer(apiOnly), resourceUrl('b'), undefined));
    expect(refused).toMatchObject({ status: 403, error: 'insufficient_scope' });
    expect((refused as { challenge: string }).challenge).toContain('error="insufficient_scope"');
  });

  describe('at the MCP endpoints, over HTTP', () => {
    /** An escaped path (express's route, which decodes it) of 12 KB: nothing a server name can be. */
    const LONG = `/mcp/${'%41'.repeat(4000)}`;
    const refusedEvents = async () => (await auditChain(server.stores)).filter((e) => e.type === 'oauth.token.refused');
    const accessToken = async () => {
      const { code, verifier } = await codeFor();
      return (await exchange(code, verifier)).body.access_token as string;
    };

    it('audits nothing for a bearer that is no token we issued (forged, unknown, another secret): anyone could send one', async () => {
      const [, id] = (await accessToken()).split('_');
      const before = (await auditChain(server.stores)).length;
      for (const token of ['pco_x_y', `pco_AAAAAAAAAAAAAAAA_${'B'.repeat(43)}`, `pco_${id}_${'B'.repeat(43)}`]) {
        for (const path of [LONG, '/mcp/a', '/mcp']) expect((await mcpFetch(`${server.url}${path}`, INITIALIZE, { token })).status).toBe(401);
      }
      expect((await auditChain(server.stores)).length).toBe(before);
    });

    it('audits a token we issued that is refused at another endpoint under its holder, naming the endpoint only where the path can name a server', async () => {
      const token = await accessToken();
      const before = (await refusedEvents()).length;
      for (const path of ['/mcp/b', '/mcp/nope', LONG, '/mcp/%3Cb%3E']) expect((await mcpFetch(`${server.url}${path}`, INITIALIZE, { token })).status).toBe(401);
      const refused = (await refusedEvents()).slice(before);
      expect(refused.map((e) => [e.actor, e.data.reason, e.data.resource])).toEqual([
        ['alice@example.com', 'wrong_audience', resourceUrl('b')],
        ['alice@example.com', 'wrong_audience', resourceUrl('nope')],
        ['alice@example.com', 'wrong_audience', undefined],
        ['alice@example.com', 'wrong_audience', undefined],
      ]);
      for (const event of refused) expect(JSON.stringify(event).length).toBeLessThan(1024);
    });
  });

  it('refuses a request without PKCE, or with plain PKCE (invalid_request), at the redirect with state and iss', async () => {
    expect(await redirectError({ code_challenge: undefined })).toMatchObject({ error: 'invalid_request', state: 'st-1', iss: TEST_PUBLIC_URL });
    expect(await redirectError({ code_challenge_method: 'plain' })).toMatchObject({ error: 'invalid_request' });
    expect(await redirectError({ code_challenge_method: undefined })).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses an unknown scope (invalid_scope), a foreign resource (invalid_target) and another response type', async () => {
    expect(await redirectError({ scope: 'admin' })).toMatchObject({ error: 'invalid_scope' });
    expect(await redirectError({ resource: 'https://elsewhere.example.com/mcp' })).toMatchObject({ error: 'invalid_target' });
    expect(await redirectError({ resource: resourceUrl('nope') })).toMatchObject({ error: 'invalid_target' });
    expect(await redirectError({ response_type: 'token' })).toMatchObject({ error: 'unsupported_response_type' });
  });

  it('never redirects for an unknown client or an unregistered redirect URI (an open redirector otherwise)', async () => {
    for (const changes of [{ client_id: 'pcc_AAAAAAAAAAAAAAAAAAAAAA' }, { client_id: 'someone' }, { redirect_uri: 'http://127.0.0.1:47002/elsewhere' }, { redirect_uri: 'https://evil.example.com/cb' }, { redirect_uri: undefined }]) {
      const opened = await browser.open(request(changes).url);
      expect(opened).toMatchObject({ status: 400 });
      expect((opened as { text: string }).text).not.toContain('at Object.');
    }
  });

  it('trades a code once (a replay revokes what it bought), only with its verifier, its redirect URI and its client', async () => {
    const { code } = await codeFor();
    expect(await exchange(code, pkcePair().verifier)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const second = await codeFor();
    expect(await exchange(second.code, second.verifier, { redirect_uri: 'http://127.0.0.1:47002/other' })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const third = await codeFor();
    expect(await exchange(third.code, '')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const fourth = await codeFor();
    expect(await postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code: fourth.code, client_id: clientId, redirect_uri: REDIRECT })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const fifth = await codeFor();
    const bought = await exchange(fifth.code, fifth.verifier);
    expect(bought).toMatchObject({ status: 200 });
    const { mcpAuthenticator } = mcpIdentity(config, server.stores, clock);
    await mcpAuthenticator.authenticate(bearer(bought.body.access_token as string), resourceUrl('a'), undefined);
    // A replayed code: refused, and what it bought is revoked (RFC 6749 §4.1.2).
    expect(await exchange(fifth.code, fifth.verifier)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await failure(mcpAuthenticator.authenticate(bearer(bought.body.access_token as string), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(await postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: bought.body.refresh_token as string, client_id: clientId })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await auditChain(server.stores)).find((e) => e.type === 'oauth.token.refused' && e.data.reason === 'code_reused')).toBeTruthy();
  });

  it('refuses a bad client (invalid_client, 401) and an unknown grant type', async () => {
    const { code, verifier } = await codeFor();
    expect(await exchange(code, verifier, { client_id: 'pcc_BBBBBBBBBBBBBBBBBBBBBB' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await postForm(server.url, '/oauth/token', { grant_type: 'password', client_id: clientId })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    const other = (await registerClient(server.url, { client_name: 'Other', redirect_uris: [REDIRECT] })).body.client_id as string;
    const mine = await codeFor();
    expect(await exchange(mine.code, mine.verifier, { client_id: other })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('expires access tokens after accessTokenTtlSeconds', async () => {
    const { code, verifier } = await codeFor();
    const tokens = await exchange(code, verifier);
    expect(tokens.body.expires_in).toBe(60);
    const { mcpAuthenticator } = mcpIdentity(config, server.stores, clock);
    await mcpAuthenticator.authenticate(bearer(tokens.body.access_token as string), resourceUrl('a'), undefined);
    clock.advance(60_000);
    expect(await failure(mcpAuthenticator.authenticate(bearer(tokens.body.access_token as string), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
  });

  it('records a denied consent and sends access_denied; refuses an approval posted from another origin', async () => {
    const opened = await browser.open(request({ resource: resourceUrl('b'), state: 'deny-me' }).url);
    if (!('consent' in opened)) throw new Error('expected the consent page');
    const foreign = await browser.decide(opened.consent, 'allow', 'https://evil.example.com');
    expect(foreign.status).toBe(403);
    const denied = await browser.decide(opened.consent, 'deny');
    const callback = new URL(denied.headers.get('location')!);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'access_denied', state: 'deny-me', iss: TEST_PUBLIC_URL });
    expect((await auditChain(server.stores)).filter((e) => e.type === 'oauth.consent.denied')).toHaveLength(1);
  });

  it('refuses DCR metadata it cannot honour (RFC 7591 error codes)', async () => {
    expect(await registerClient(server.url, { redirect_uris: ['http://evil.example.com/cb'] })).toMatchObject({ status: 400, body: { error: 'invalid_redirect_uri' } });
    expect(await registerClient(server.url, { redirect_uris: [] })).toMatchObject({ status: 400, body: { error: 'invalid_redirect_uri' } });
    expect(await registerClient(server.url, { redirect_uris: ['javascript:alert(1)'] })).toMatchObject({ status: 400, body: { error: 'invalid_redirect_uri' } });
    expect(await registerClient(server.url, { redirect_uris: [REDIRECT], grant_types: ['client_credentials'] })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    const malformed = await fetch(`${server.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'the request body is not valid JSON' });
    const form = await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&'.repeat(30) });
    expect(await form.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('accepts development-mode metadata fetches only on a loopback public URL', () => {
    const parse = (publicUrl: string) => configSchema.safeParse({ ...config, server: { ...config.server, publicUrl } });
    expect(parse('https://portcullis.example.com').error?.issues[0]?.path).toEqual(['oauth', 'clientMetadataDocuments', 'allowLoopback']);
    expect(parse('http://127.0.0.1:8080').success).toBe(true);
  });
});

describe('registrations nobody uses', () => {
  let idp: TestIdp;
  let server: TestServer;
  let clock: ManualClock;
  beforeAll(async () => {
    idp = await createTestIdp('corp');
    clock = new ManualClock();
    server = await startTestServer({ config: oauthConfig(idp), clock });
  });
  afterAll(() => server.close());

  it('lapse after a day; a client someone obtained tokens through is kept for registeredClientTtlSeconds', async () => {
    const register = async () => (await registerClient(server.url, { client_name: 'Probe', redirect_uris: [REDIRECT] })).body.client_id as string;
    const [unused, used] = [await register(), await register()];
    const browser = new TestBrowser(server.url, idp);
    const pkce = pkcePair();
    const callback = await browser.approve(authorizeUrl({ response_type: 'code', client_id: used, redirect_uri: REDIRECT, code_challenge: pkce.challenge, code_challenge_method: 'S256', resource: resourceUrl('a') }));
    const token = await postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, code_verifier: pkce.verifier, redirect_uri: REDIRECT, client_id: used });
    expect(token.status).toBe(200);
    clock.advance(25 * 3600 * 1000);
    const authorize = (clientId: string) => browser.get(authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkcePair().challenge, code_challenge_method: 'S256', resource: resourceUrl('a') }));
    const lapsed = await authorize(unused);
    expect(lapsed.status).toBe(400);
    expect(await lapsed.text()).toMatch(/unknown client_id/);
    // The used one is still known: the broker goes on to the sign-in (the browser's has ended meanwhile).
    expect((await authorize(used)).status).toBe(302);
  });
});
