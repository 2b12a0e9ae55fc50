import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { McpAuthError } from '../../server/oauth/mcp-authenticate.js';
import { describeOnEachStore } from '../support/each-store.js';
import {
  auditChain,
  bearer,
  connectWithSdk,
  DCR_METADATA,
  MemoryOAuthProvider,
  mcpIdentity,
  mcpRefusal,
  oauthBrokerForSuite,
  oauthConfig,
  postForm,
  publicUrlFetch,
  resourceUrl,
  TestBrowser,
} from '../support/oauth-client.js';
import { describeWithRedis } from '../support/redis.js';
import { createTestIdp, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { postGraphQL, startInstancesOnRedis } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const refusal = mcpRefusal;

describeOnEachStore('OAuth 2.1 with the MCP SDK client: discovery, DCR, SAML sign-in, consent, tokens', (start) => {
  const broker = oauthBrokerForSuite(start);
  let idp: TestIdp;
  let server: TestServer;
  let config: PortcullisConfig;
  beforeAll(() => ({ idp, server, config } = broker));

  const newClient = () => new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);

  it('registers by DCR, signs in through the IdP, shows consent naming client, redirect and resource, and issues a token bound to /mcp/a', async () => {
    const browser = new TestBrowser(server.url, idp);
    const provider = newClient();
    const fetchFn = publicUrlFetch(server.url);
    expect(await auth(provider, { serverUrl: resourceUrl('a'), fetchFn })).toBe('REDIRECT');
    const clientId = provider.info!.client_id;
    expect(clientId).toMatch(/^pcc_/);
    const url = provider.authorizationUrl!;
    expect(url.searchParams.get('resource')).toBe(resourceUrl('a'));
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');

    const opened = await browser.open(url);
    if (!('consent' in opened)) throw new Error('expected the consent page');
    for (const shown of ['Test MCP client', clientId, 'http://127.0.0.1:47001/callback', resourceUrl('a'), 'alice@example.com']) expect(opened.consent.text).toContain(shown);
    expect(opened.consent.csp).toContain("frame-ancestors 'none'");
    const answer = await browser.decide(opened.consent, 'allow');
    expect(answer.status).toBe(303);
    const callback = new URL(answer.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe('http://127.0.0.1:47001/callback');
    // RFC 9207: the response names its issuer.
    expect(callback.searchParams.get('iss')).toBe(TEST_PUBLIC_URL);
    expect(await auth(provider, { serverUrl: resourceUrl('a'), authorizationCode: callback.searchParams.get('code')!, fetchFn })).toBe('AUTHORIZED');
    const tokens = provider.saved!;
    expect(tokens).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), expires_in: 600, scope: 'mcp' });
    expect(tokens.refresh_token).toMatch(/^pcr_/);

    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    const principal = await mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined);
    expect(principal.user.email).toBe('alice@example.com');
    expect(principal.credential).toMatchObject({ kind: 'oauth', client: { id: clientId, name: 'Test MCP client' } });
    expect([...principal.scopes]).toEqual(['mcp']);
    // A trailing slash names the same resource; another endpoint does not.
    const atB = await refusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('b'), undefined));
    expect(atB).toMatchObject({ status: 401, error: 'invalid_token' });
    expect((atB as { challenge: string }).challenge).toContain(`resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/b"`);
    expect(await refusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl(), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    // The API knows API tokens only: an OAuth token's audience is an MCP endpoint.
    const graphql = await postGraphQL(server.url, { query: '{ me { email } }' }, bearer(tokens.access_token));
    expect(graphql.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // No token reaches the log.
    expect(server.logs.join('\n')).not.toContain(tokens.access_token.split('_')[2]);

    const events = await auditChain(server.stores);
    const types = events.map((e) => e.type);
    for (const type of ['oauth.client.registered', 'oauth.consent.granted', 'oauth.token.issued', 'oauth.token.refused']) expect(types).toContain(type);
    expect(events.find((e) => e.type === 'oauth.token.refused')).toMatchObject({ outcome: 'DENIED', actor: 'alice@example.com', data: { reason: 'wrong_audience', clientId } });
    expect(JSON.stringify(events)).not.toContain(tokens.access_token);
  });

  it.each([DCR_METADATA.redirect_uris[0]!, 'https://127.0.0.1/callback', 'https://localhost/callback'])('remembers the consent, but asks again for a loopback redirect, http or https (any local program could be listening there: RFC 8252 §8.6): %s', async (redirectUri) => {
    const browser = new TestBrowser(server.url, idp);
    const provider = new MemoryOAuthProvider(redirectUri, { ...DCR_METADATA, redirect_uris: [redirectUri] });
    await connectWithSdk(server.url, browser, provider, resourceUrl('a'));
    const again = new MemoryOAuthProvider(provider.redirectUrl, provider.clientMetadata, provider.info);
    const fetchFn = publicUrlFetch(server.url);
    await auth(again, { serverUrl: resourceUrl('a'), fetchFn });
    const opened = await browser.open(again.authorizationUrl!);
    if (!('consent' in opened)) throw new Error('expected the consent page again');
    expect(opened.consent.text).toContain('You allowed this application here before');
    // Another resource is another consent.
    await auth(again, { serverUrl: resourceUrl('b'), fetchFn });
    const other = await browser.open(again.authorizationUrl!);
    expect('consent' in other && other.consent.text).not.toContain('You allowed this application here before');
  });

  it('ends the authorization when the person signs out: its access token is refused and its refresh token no longer works', async () => {
    const browser = new TestBrowser(server.url, idp);
    const provider = newClient();
    const tokens = await connectWithSdk(server.url, browser, provider, resourceUrl('a'));
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    expect((await mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined)).user.email).toBe('alice@example.com');
    expect((await fetch(`${server.url}/auth/logout`, { method: 'POST', headers: { cookie: browser.cookie!, origin: new URL(TEST_PUBLIC_URL).origin }, redirect: 'manual' })).status).toBeLessThan(400);
    expect(await refusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    const refreshed = await postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: provider.info!.client_id });
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('rotates refresh tokens: the old one is refused once used, and its replay revokes the new tokens too', async () => {
    const browser = new TestBrowser(server.url, idp);
    const provider = newClient();
    const first = await connectWithSdk(server.url, browser, provider, resourceUrl('a'));
    const fetchFn = publicUrlFetch(server.url);
    expect(await auth(provider, { serverUrl: resourceUrl('a'), fetchFn })).toBe('AUTHORIZED');
    const second = provider.saved!;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    expect((await mcpAuthenticator.authenticate(bearer(second.access_token), resourceUrl('a'), undefined)).user.email).toBe('alice@example.com');

    const replay = await postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: provider.info!.client_id });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refusal(mcpAuthenticator.authenticate(bearer(second.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    const afterReplay = await postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: second.refresh_token!, client_id: provider.info!.client_id });
    expect(afterReplay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const types = (await auditChain(server.stores)).map((e) => e.type);
    expect(types).toContain('oauth.token.refreshed');
    expect(types).toContain('oauth.token.revoked');
  });

  it('revokes (RFC 7009): a revoked access token is refused at once; a revoked refresh token ends the family', async () => {
    const browser = new TestBrowser(server.url, idp);
    const provider = newClient();
    const tokens = await connectWithSdk(server.url, browser, provider, resourceUrl('a'));
    const clientId = provider.info!.client_id;
    const { mcpAuthenticator } = mcpIdentity(config, server.stores);
    expect(await postForm(server.url, '/oauth/revoke', { token: tokens.access_token, client_id: clientId })).toMatchObject({ status: 200 });
    expect(await refusal(mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    // Unknown tokens are answered alike (§2.2).
    expect(await postForm(server.url, '/oauth/revoke', { token: 'pco_nothing_here', client_id: clientId })).toMatchObject({ status: 200 });

    const refreshed = await postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: clientId });
    expect(refreshed.status).toBe(200);
    expect(await postForm(server.url, '/oauth/revoke', { token: refreshed.body.refresh_token as string, client_id: clientId, token_type_hint: 'refresh_token' })).toMatchObject({ status: 200 });
    expect(await refusal(mcpAuthenticator.authenticate(bearer(refreshed.body.access_token as string), resourceUrl('a'), undefined))).toMatchObject({ status: 401 });
    expect(await mcpAuthenticator.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined).catch((e: unknown) => e)).toBeInstanceOf(McpAuthError);
  });
});

describeWithRedis('OAuth across instances on one Redis', () => {
  let idp: TestIdp;
  let instances: TestServer[];
  let config: ReturnType<typeof oauthConfig>;
  beforeAll(async () => {
    idp = await createTestIdp('corp');
    config = oauthConfig(idp);
    instances = await startInstancesOnRedis(config, 2, systemClock);
  });
  afterAll(() => Promise.all(instances.map((s) => s.close())));

  it('any instance serves any step, and a revocation at one is refused at once by the other', async () => {
    const [one, two] = instances as [TestServer, TestServer];
    const provider = new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);
    // Registration, sign-in and consent at the first instance...
    const browser = new TestBrowser(one.url, idp);
    await auth(provider, { serverUrl: resourceUrl('a'), fetchFn: publicUrlFetch(one.url) });
    const code = (await browser.approve(provider.authorizationUrl!)).searchParams.get('code')!;
    // ...the code exchange at the second.
    expect(await auth(provider, { serverUrl: resourceUrl('a'), authorizationCode: code, fetchFn: publicUrlFetch(two.url) })).toBe('AUTHORIZED');
    const tokens = provider.saved!;
    const atOne = mcpIdentity(config, one.stores).mcpAuthenticator;
    const atTwo = mcpIdentity(config, two.stores).mcpAuthenticator;
    expect((await atTwo.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined)).user.email).toBe('alice@example.com');
    expect(await postForm(one.url, '/oauth/revoke', { token: tokens.access_token, client_id: provider.info!.client_id })).toMatchObject({ status: 200 });
    expect(await refusal(atTwo.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(await refusal(atOne.authenticate(bearer(tokens.access_token), resourceUrl('a'), undefined))).toMatchObject({ status: 401, error: 'invalid_token' });
  });
});
