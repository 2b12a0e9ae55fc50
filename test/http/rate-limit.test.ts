import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { clientKey } from '../../server/http/rate-limit.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { createTestIdp, postToAcs, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { executeOverWs, startInstancesOnRedis, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

let corp: TestIdp;
beforeAll(async () => {
  corp = await createTestIdp('corp');
});

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function limitedConfig(points: number, durationSeconds: number, extra: Record<string, unknown> = {}): PortcullisConfig {
  return testConfig({
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL, ...(extra.server as object | undefined) },
    identityProviders: [corp.config],
    rateLimits: { unauthenticated: { points, durationSeconds } },
    ...Object.fromEntries(Object.entries(extra).filter(([key]) => key !== 'server')),
  });
}

async function start(config: PortcullisConfig): Promise<TestServer> {
  const server = await startTestServer({ config });
  servers.push(server);
  return server;
}

const loginStart = (server: TestServer, headers: Record<string, string> = {}) => fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual', headers });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the unauthenticated edge, rate limited per client address', () => {
  it('answers 429 with Retry-After and a plain message once the budget is spent, and serves again after it', async () => {
    const server = await start(limitedConfig(2, 1));
    expect((await loginStart(server)).status).toBe(302);
    expect((await loginStart(server)).status).toBe(302);
    const refused = await loginStart(server);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await refused.text()).toMatch(/^Too many requests: try again in \d+ s\.$/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 1).toBe(true);
    await sleep(retryAfter * 1000 + 100);
    expect((await loginStart(server)).status).toBe(302);
  });

  it('shares one budget across every unauthenticated route, and leaves health and GraphQL alone', async () => {
    // Two IdPs: each asserts its own domain (identityProviders[].emailDomains).
    const devIdp = { enabled: true, users: [{ nameId: 'alice', email: 'alice@dev.example.org', displayName: 'Alice' }] };
    const server = await start(limitedConfig(1, 60, { devIdp, identityProviders: [{ ...corp.config, emailDomains: ['example.com'] }] }));
    expect((await loginStart(server)).status).toBe(302);
    const form = { method: 'POST', body: new URLSearchParams({ x: '1' }) };
    const limited: [string, RequestInit?][] = [
      ['/auth/saml/corp/login'],
      ['/auth/saml/corp/acs', form],
      ['/auth/saml/corp/metadata'],
      ['/auth/saml/dev/login'],
      ['/auth/cli/login?port=49152'],
      ['/auth/cli/finish'],
      ['/auth/cli/finish', form],
      ['/auth/cli/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
      ['/dev-idp/sso?SAMLRequest=x'],
      ['/dev-idp/sso', form],
      ['/'],
      ['/audit?user=x'],
      ['/signin?returnTo=/review'],
    ];
    for (const [path, init] of limited) expect((await fetch(`${server.url}${path}`, { redirect: 'manual', ...init })).status, path).toBe(429);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const graphql = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ identityProviders { id } }' }) });
    expect(graphql.status).toBe(200);
    // Exact console paths only: the others under `/` are not in that budget.
    expect((await fetch(`${server.url}/no-such-page`)).status).toBe(404);
  });

  it('audits a refused ACS post within the budget, and only logs those past it, once per client and window (no write per flooded request)', async () => {
    const server = await start(limitedConfig(2, 60));
    const denials = async () => (await server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'auth.login' && e.outcome === 'DENIED').length;
    const junk = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>';
    expect((await postToAcs(server.url, 'corp', junk)).status).toBe(401);
    expect((await postToAcs(server.url, 'corp', junk)).status).toBe(401);
    expect(await denials()).toBe(2);
    for (let i = 0; i < 5; i++) expect((await postToAcs(server.url, 'corp', junk)).status).toBe(429);
    expect(await denials()).toBe(2);
    const limitedLines = server.logs.filter((line) => line.includes('"msg":"rate limited'));
    expect(limitedLines).toHaveLength(1);
    expect(JSON.parse(limitedLines[0]!)).toMatchObject({ level: 40, client: '127.0.0.1', path: '/auth/saml/corp/acs' });
  });

  it('counts the client named by X-Forwarded-For only behind a trusted proxy', async () => {
    const behindProxy = await start(limitedConfig(1, 60, { server: { trustedProxies: ['127.0.0.1/32'] } }));
    expect((await loginStart(behindProxy, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(302);
    expect((await loginStart(behindProxy, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(429);
    expect((await loginStart(behindProxy, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(302);
    // A client cannot prepend addresses of its choosing: the proxy appends the real one last.
    expect((await loginStart(behindProxy, { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' })).status).toBe(429);

    const direct = await start(limitedConfig(1, 60));
    expect((await loginStart(direct, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(302);
    expect((await loginStart(direct, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(429);
  });
});

describe('GraphQL, rate limited per client address', () => {
  const graphqlLimited = (points: number) => limitedConfig(1_000_000, 60, { server: { trustedProxies: ['127.0.0.1/32'] }, rateLimits: { unauthenticated: { points: 1_000_000, durationSeconds: 60 }, graphql: { points, durationSeconds: 60 } } });
  const query = (server: TestServer, client: string) =>
    fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': client }, body: JSON.stringify({ query: '{ identityProviders { id } }' }) });
  /** A graphql-ws upgrade from `client`: 101, or the refusal's status and Retry-After. */
  const upgrade = (server: TestServer, client: string) =>
    new Promise<{ status: number; retryAfter?: string | null }>((resolve) => {
      const ws = new WebSocket(`${server.wsUrl}/graphql`, 'graphql-transport-ws', { headers: { 'x-forwarded-for': client } });
      ws.once('open', () => {
        ws.close();
        resolve({ status: 101 });
      });
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] ?? null }));
      ws.once('error', () => {});
    });

  it('answers 429 with Retry-After past the budget, over HTTP and graphql-ws upgrades alike, and leaves other addresses alone', async () => {
    const server = await start(graphqlLimited(2));
    expect((await query(server, '198.51.100.1')).status).toBe(200);
    expect(await upgrade(server, '198.51.100.1')).toEqual({ status: 101 });
    const refused = await query(server, '198.51.100.1');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.text()).toMatch(/^Too many requests: try again in \d+ s\.$/);
    const refusedUpgrade = await upgrade(server, '198.51.100.1');
    expect(refusedUpgrade.status).toBe(429);
    expect(Number(refusedUpgrade.retryAfter)).toBeGreaterThanOrEqual(1);

    expect((await query(server, '198.51.100.2')).status).toBe(200);
    expect(await upgrade(server, '198.51.100.2')).toEqual({ status: 101 });
    // A budget of its own: the sign-in routes still serve the spent address.
    expect((await loginStart(server, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(302);
  });

  it('counts every operation sent over a graphql-ws connection, not only its upgrade: past the budget each is refused with LIMIT_EXCEEDED', async () => {
    const server = await start(graphqlLimited(3));
    // One connection for all (not lazy): its upgrade is counted once.
    const webSocketImpl = class extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { 'x-forwarded-for': '198.51.100.4' } });
      }
    };
    const client = createClient({ url: `${server.wsUrl}/graphql`, webSocketImpl, retryAttempts: 0, lazy: false });
    try {
      const run = () => executeOverWs(client, '{ identityProviders { id } }');
      // The upgrade spends one, each operation one more.
      expect((await run()).errors).toBeUndefined();
      expect((await run()).errors).toBeUndefined();
      const refused = await run();
      expect(refused.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Too many requests: try again in \d+ s\.$/), extensions: { code: 'LIMIT_EXCEEDED' } })]);
      // Another address keeps its own budget.
      expect((await query(server, '198.51.100.5')).status).toBe(200);
    } finally {
      await client.dispose();
    }
  });

  it('counts a request before its credential is checked (a token being guessed spends the budget too)', async () => {
    const server = await start(graphqlLimited(1));
    const guess = () =>
      fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer pc_guess', 'x-forwarded-for': '198.51.100.3' }, body: JSON.stringify({ query: '{ me { email } }' }) });
    expect((await guess()).status).not.toBe(429);
    expect((await guess()).status).toBe(429);
  });
});

describe('client address as counted', () => {
  it('is the IPv4 address, also when IPv4-mapped', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    expect(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describeWithRedis('the unauthenticated edge on Redis', () => {
  it('counts one budget across instances sharing the store', async () => {
    const instances = await startInstancesOnRedis(limitedConfig(2, 60));
    servers.push(...instances);
    const [a, b] = instances as [TestServer, TestServer];
    expect((await loginStart(a)).status).toBe(302);
    expect((await loginStart(b)).status).toBe(302);
    expect((await loginStart(a)).status).toBe(429);
    expect((await loginStart(b)).status).toBe(429);
  });

  describe('when Redis is down', () => {
    let redis: RedisServerHandle;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(() => redis.stop());

    it('refuses with 503 rather than serve uncounted', async () => {
      const server = await startTestServer({ config: limitedConfig(100, 60), stores: await redisStoresForTest({ url: redis.url, fast: true }) });
      servers.push(server);
      expect((await fetch(`${server.url}/auth/saml/corp/metadata`)).status).toBe(200);
      await redis.kill();
      const res = await fetch(`${server.url}/auth/saml/corp/metadata`);
      expect(res.status).toBe(503);
      expect(res.headers.get('set-cookie')).toBeNull();
      await redis.restart();
      await server.stores.waitReady();
      expect((await fetch(`${server.url}/auth/saml/corp/metadata`)).status).toBe(200);
    });
  });
});
