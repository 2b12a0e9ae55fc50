import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfig } from '../support/broker-fixture.js';
import { finished, runCli, spawnCli, waitForStderr } from '../support/cli.js';
import { browserSignInForCli, visit } from '../support/cli-login-browser.js';
import { describeOnEachStore } from '../support/each-store.js';
import { createTestIdp, signIn } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { ManualClock } from '../support/manual-clock.js';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const LOGIN_URL = /(http:\/\/127\.0\.0\.1:\d+\/auth\/cli\/login\?\S+)/;
const ALICE = { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } };

function configHome(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-cli-home-'));
}

describeOnEachStore('portcullis login', (start) => {
  let idp: TestIdp;
  let server: TestServer;
  beforeAll(async () => {
    idp = await createTestIdp('corp');
    server = await start(brokerConfig(idp));
  });
  afterAll(() => server.close());

  /** Runs `portcullis login` and completes it in the "browser"; returns the CLI's result and the page it showed. */
  async function login(home: string) {
    const child = spawnCli(['login', '--broker', server.url, '--no-browser'], { XDG_CONFIG_HOME: home });
    const done = finished(child);
    const [, url] = await waitForStderr(child, LOGIN_URL);
    const callback = await browserSignInForCli(server.url, url!, idp, ALICE);
    const page = await visit(callback);
    return { result: await done, page, callback };
  }

  it('signs in through the browser and the loopback listener, and stores an api,mcp token readable only by the user', async () => {
    const home = configHome();
    const { result, page, callback } = await login(home);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Signed in to Portcullis as alice@example.com');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Signed in to http:\/\/127\.0\.0\.1:\d+ as alice@example\.com; the token expires/);
    expect(callback.hostname).toBe('127.0.0.1');
    expect(callback.searchParams.get('code')).toBeTruthy();

    const file = join(home, 'portcullis', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { token: string; broker: string };
    expect(stored.broker).toBe(server.url);
    const tokens = await postGraphQL(server.url, { query: '{ apiTokens { scopes } me { email } }' }, { authorization: `Bearer ${stored.token}` });
    expect(tokens.body.data).toEqual({ apiTokens: [expect.objectContaining({ scopes: ['api', 'mcp'] })], me: { email: 'alice@example.com' } });

    // The listener took one answer and is gone.
    await expect(fetch(callback)).rejects.toThrow();
    const whoami = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(whoami.code).toBe(0);
    expect(whoami.stdout).toMatch(/^User\s+alice@example\.com/m);
    expect(whoami.stdout).toMatch(/^Groups\s+engineering$/m);
  });

  it('logout revokes the token at the broker and deletes it', async () => {
    const home = configHome();
    await login(home);
    const file = join(home, 'portcullis', 'credentials.json');
    const { token } = JSON.parse(readFileSync(file, 'utf8')) as { token: string };
    const result = await runCli(['logout'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Signed out of ${server.url}`);
    expect(existsSync(file)).toBe(false);
    const after = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` });
    expect(after.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const whoami = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(whoami.code).toBe(1);
    expect(whoami.stderr).toMatch(/^portcullis: NOT_SIGNED_IN: not signed in: run `portcullis login/);
  });

  it('logging in again revokes the token it replaces', async () => {
    const home = configHome();
    await login(home);
    const file = join(home, 'portcullis', 'credentials.json');
    const first = (JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token;
    await login(home);
    const second = (JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token;
    expect(second).not.toBe(first);
    const old = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${first}` });
    expect(old.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a callback whose state is not the one it sent, and saves nothing', async () => {
    const home = configHome();
    const child = spawnCli(['login', '--broker', server.url, '--no-browser'], { XDG_CONFIG_HOME: home });
    const done = finished(child);
    const [, url] = await waitForStderr(child, LOGIN_URL);
    const port = new URL(url!).searchParams.get('port');
    const forged = await visit(new URL(`http://127.0.0.1:${port}/callback?code=${'a'.repeat(43)}&state=${'b'.repeat(32)}`));
    expect(forged.status).toBe(400);
    const result = await done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_STATE_MISMATCH: /m);
    expect(existsSync(join(home, 'portcullis', 'credentials.json'))).toBe(false);
  });

  it('gives up with a clear message when the browser never comes back', async () => {
    const home = configHome();
    const result = await runCli(['login', '--broker', server.url, '--no-browser', '--timeout', '1s'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_TIMEOUT: no sign-in came back from the browser within 1s/m);
    expect(existsSync(join(home, 'portcullis', 'credentials.json'))).toBe(false);
  });
});

describe('the broker side of the CLI login', () => {
  let idp: TestIdp;
  let server: TestServer;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = (extra: Record<string, string> = {}) =>
    new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: challenge, code_challenge_method: 'S256', ...extra });

  const clock = new ManualClock();

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    server = await startTestServer({ config: brokerConfig(idp), clock });
  });
  afterAll(() => server.close());

  const redeem = (code: string, codeVerifier: string) =>
    fetch(`${server.url}/auth/cli/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, code_verifier: codeVerifier }) });

  async function code(): Promise<string> {
    const callback = await browserSignInForCli(server.url, `${server.url}/auth/cli/login?${params()}`, idp, ALICE);
    expect(callback.origin).toBe('http://127.0.0.1:49152');
    expect(callback.searchParams.get('state')).toBe('c'.repeat(24));
    return callback.searchParams.get('code')!;
  }

  it('redeems a code once, and only with the verifier behind its challenge', async () => {
    const first = await code();
    expect((await redeem(first, verifier)).status).toBe(200);
    const again = await redeem(first, verifier);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ error: 'UNAUTHENTICATED', message: 'unknown, used or expired login code' });

    const second = await code();
    const wrong = await redeem(second, randomBytes(32).toString('base64url'));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ message: 'code_verifier does not match the login it claims' });
    // A failed attempt used the code up: guessing verifiers gets one try per sign-in.
    expect((await redeem(second, verifier)).status).toBe(401);
  });

  it('refuses malformed login parameters with a clear 400', async () => {
    for (const [extra, message] of [
      [{ port: '80' }, /port must be/],
      [{ state: 'short' }, /state must be/],
      [{ code_challenge_method: 'plain' }, /S256/],
      [{ idp: 'elsewhere' }, /choose an identity provider .*: corp/],
    ] as const) {
      const res = await fetch(`${server.url}/auth/cli/login?${params(extra)}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(message);
    }
  });

  it('finishes only for a signed-in browser session, never for a bearer token', async () => {
    const anonymous = await fetch(`${server.url}/auth/cli/finish?${params()}`, { redirect: 'manual' });
    expect(anonymous.status).toBe(401);
    const cookie = await signIn(server.url, idp, ALICE);
    const token = await postGraphQL(server.url, { query: 'mutation { createApiToken(name: "t", scopes: ["api"], ttlSeconds: 600) { token } }' }, { cookie });
    const bearer = (token.body.data as { createApiToken: { token: string } }).createApiToken.token;
    const withBearer = await fetch(`${server.url}/auth/cli/finish?${params()}`, { headers: { authorization: `Bearer ${bearer}` }, redirect: 'manual' });
    expect(withBearer.status).toBe(401);
    const withCookie = await fetch(`${server.url}/auth/cli/finish?${params()}`, { headers: { cookie }, redirect: 'manual' });
    expect(withCookie.status).toBe(302);
  });
  // Last: it moves the broker's clock, which SAML sign-ins (checked on real time too) cannot follow.
  it('issues a token that ends when the browser session behind it ends, not later', async () => {
    const cookie = await signIn(server.url, idp, ALICE);
    const signedInAt = clock.now();
    clock.advance(2 * 3600_000);
    const finish = await fetch(`${server.url}/auth/cli/finish?${params()}`, { headers: { cookie }, redirect: 'manual' });
    const code = new URL(finish.headers.get('location') ?? '').searchParams.get('code')!;
    const res = await redeem(code, verifier);
    const body = (await res.json()) as { expiresAt: string; user: { email: string } };
    expect(body.user.email).toBe('alice@example.com');
    // session.ttlSeconds is 8 h: the token has the 6 h the session had left.
    expect(Date.parse(body.expiresAt)).toBe(signedInAt + 8 * 3600_000);
  });
});

describe('the CLI login with several identity providers', () => {
  it('asks which one, naming them', async () => {
    const [a, b] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    const server = await startTestServer({ config: testConfig({ identityProviders: [a.config, b.config] }) });
    try {
      const res = await fetch(`${server.url}/auth/cli/login?${new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toBe('choose an identity provider (portcullis login --idp ID): corp, partner');
      const chosen = await fetch(`${server.url}/auth/cli/login?${new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', idp: 'partner' })}`, { redirect: 'manual' });
      expect(chosen.status).toBe(302);
      expect(chosen.headers.get('location')).toMatch(/^\/auth\/saml\/partner\/login\?returnTo=%2Fauth%2Fcli%2Ffinish/);
    } finally {
      await server.close();
    }
  });
});

describe('the stored login', () => {
  it('is refused when other users could read it, as ssh refuses such keys', async () => {
    const home = configHome();
    mkdirSync(join(home, 'portcullis'), { mode: 0o700 });
    const file = join(home, 'portcullis', 'credentials.json');
    writeFileSync(file, JSON.stringify({ broker: 'http://127.0.0.1:9', token: 'pcl_a_b', tokenId: 'a', email: 'a@example.com', expiresAt: '2030-01-01T00:00:00Z' }), { mode: 0o644 });
    const result = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`portcullis: INSECURE_CREDENTIALS: ${file} is readable by other users (mode 644): run \`chmod 600 ${file}\`, or delete it and log in again\n`);
  });
});
