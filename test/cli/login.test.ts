import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfig } from '../support/broker-fixture.js';
import { finished, LOGIN_PROMPT, runCli, spawnCli, waitForStderr } from '../support/cli.js';
import { browserSignInForCli, confirm, consentPage, visit } from '../support/cli-login-browser.js';
import { describeOnEachStore } from '../support/each-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { createTestIdp, signIn } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { createApiToken, postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } };

function configHome(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-cli-home-'));
}

const credentialsFile = (home: string) => join(home, 'portcullis', 'credentials.json');
const storedToken = (home: string) => (JSON.parse(readFileSync(credentialsFile(home), 'utf8')) as { token: string }).token;

/** A server on loopback standing for a broker the token must not reach: counts what it is sent. */
async function countingServer(): Promise<{ url: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, close: () => server.close() };
}

describeOnEachStore('portcullis login', (start) => {
  let idp: TestIdp;
  let server: TestServer;
  beforeAll(async () => {
    idp = await createTestIdp('corp');
    server = await start(brokerConfig(idp));
  });
  afterAll(() => server.close());

  /** Starts `portcullis login` and waits for the URL it prints. */
  async function startCliLogin(home: string, args: string[] = [], broker = server) {
    const child = spawnCli(['login', '--broker', broker.url, '--no-browser', ...args], { XDG_CONFIG_HOME: home });
    const done = finished(child);
    const [, url, code] = await waitForStderr(child, LOGIN_PROMPT);
    return { done, url: url!, code: code!, port: new URL(url!).searchParams.get('port') };
  }

  /** A whole login: the CLI, the browser through the IdP, consent, the CLI's listener. */
  async function login(home: string, broker = server) {
    const cli = await startCliLogin(home, [], broker);
    const consent = await browserSignInForCli(broker.url, cli.url, idp, ALICE);
    const page = await visit(await confirm(consent));
    return { result: await cli.done, page, consent, cli };
  }

  it('signs in through the browser, consent and the loopback listener, and stores an api,mcp token only the user can read', async () => {
    const home = configHome();
    const { result, page, consent, cli } = await login(home);
    // The browser shows the code the terminal printed, so the person can tell it is their login.
    expect(consent.text).toContain(cli.code);
    expect(consent.text).toContain('alice@example.com');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Signed in to Portcullis as alice@example.com');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Signed in to http:\/\/127\.0\.0\.1:\d+ as alice@example\.com; the token expires/);

    expect(statSync(credentialsFile(home)).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(credentialsFile(home))).mode & 0o777).toBe(0o700);
    const tokens = await postGraphQL(server.url, { query: '{ apiTokens { scopes } me { email } }' }, { authorization: `Bearer ${storedToken(home)}` });
    expect(tokens.body.data).toEqual({ apiTokens: [expect.objectContaining({ scopes: ['api', 'mcp'] })], me: { email: 'alice@example.com' } });

    const whoami = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(whoami.code).toBe(0);
    expect(whoami.stdout).toMatch(/^User\s+alice@example\.com/m);
    expect(whoami.stdout).toMatch(/^Groups\s+engineering$/m);
  });

  it('ignores a callback with another state, takes only its own, then stops listening', async () => {
    const home = configHome();
    const cli = await startCliLogin(home);
    const consent = await browserSignInForCli(server.url, cli.url, idp, ALICE);
    const callback = await confirm(consent);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'b'.repeat(32));
    expect((await visit(forged)).status).toBe(400);
    expect(existsSync(credentialsFile(home))).toBe(false);

    expect((await visit(callback)).status).toBe(200);
    // Its one answer taken, the listener accepts no other connection (the CLI may still be saving).
    await expect(fetch(callback)).rejects.toThrow();
    expect((await cli.done).code).toBe(0);
  });

  it('logout revokes the token at the broker and deletes it', async () => {
    const home = configHome();
    await login(home);
    const token = storedToken(home);
    const result = await runCli(['logout'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Signed out of ${server.url}`);
    expect(existsSync(credentialsFile(home))).toBe(false);
    const after = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` });
    expect(after.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const whoami = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(whoami.code).toBe(1);
    expect(whoami.stderr).toMatch(/^portcullis: NOT_SIGNED_IN: not signed in: run `portcullis login/);
  });

  it('logging in again revokes the token it replaces', async () => {
    const home = configHome();
    await login(home);
    const first = storedToken(home);
    await login(home);
    expect(storedToken(home)).not.toBe(first);
    const old = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${first}` });
    expect(old.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('logging in again revokes the token it replaces from a file others could read (they may hold it), and at its own broker when the new login is for another', async () => {
    const home = configHome();
    await login(home);
    const exposed = storedToken(home);
    chmodSync(credentialsFile(home), 0o644);
    await login(home);
    expect(statSync(credentialsFile(home)).mode & 0o777).toBe(0o600);
    const refused = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${exposed}` });
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const left = storedToken(home);
    const other = await start(brokerConfig(idp));
    try {
      await login(home, other);
      const old = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${left}` });
      expect(old.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const fresh = await postGraphQL(other.url, { query: '{ me { email } }' }, { authorization: `Bearer ${storedToken(home)}` });
      expect(fresh.body.data).toEqual({ me: { email: 'alice@example.com' } });
    } finally {
      await other.close();
    }
  });

  it('sends the replaced token nowhere but the broker named now when others could write the file (they could have put their own broker in it), and takes no broker from such a file', async () => {
    const home = configHome();
    await login(home);
    const token = storedToken(home);
    const elsewhere = await countingServer();
    try {
      const file = credentialsFile(home);
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), broker: elsewhere.url }));
      chmodSync(file, 0o622);
      const bare = await runCli(['login', '--no-browser'], { XDG_CONFIG_HOME: home });
      expect(bare.code).toBe(1);
      expect(bare.stderr).toMatch(/^portcullis: NO_BROKER: which broker\?/m);
      await login(home);
      expect(elsewhere.requests()).toBe(0);
      // Named now, the broker it came from is sent its own token, to revoke: it is not left valid either.
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), broker: server.url }));
      chmodSync(file, 0o622);
      const replaced = storedToken(home);
      await login(home);
      const old = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${replaced}` });
      expect(old.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(token).not.toBe(replaced);
    } finally {
      elsewhere.close();
    }
  });

  /** `login` opening a browser: $BROWSER (which xdg-open runs when there is no desktop) records the URL it is given, and exits with `exit`. */
  async function startBrowserLogin(home: string, exit = 0) {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-browser-'));
    const opened = join(dir, 'opened');
    writeFileSync(join(dir, 'browser'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${opened}'\nexit ${exit}\n`, { mode: 0o755 });
    const child = spawnCli(['login', '--broker', server.url], { XDG_CONFIG_HOME: home, BROWSER: join(dir, 'browser') });
    const done = finished(child);
    const [, printed] = await waitForStderr(child, LOGIN_PROMPT);
    await expect.poll(() => existsSync(opened), { timeout: 10_000 }).toBe(true);
    return { done, printed: printed!, link: readFileSync(opened, 'utf8').split('\n')[0]! };
  }

  it('opens the browser at a one-use link on its listener, not at the URL with the state and challenge, which a command line shows to others', async () => {
    const home = configHome();
    const { done, printed, link } = await startBrowserLogin(home);
    const printedUrl = new URL(printed);
    expect(link).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${printedUrl.searchParams.get('port')}/start/[\\w-]{32}$`));
    for (const secret of [printedUrl.searchParams.get('state')!, printedUrl.searchParams.get('code_challenge')!]) expect(link).not.toContain(secret);
    const first = await fetch(link, { redirect: 'manual' });
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe(printed);
    const consent = await browserSignInForCli(server.url, printed, idp, ALICE);
    expect((await visit(await confirm(consent))).status).toBe(200);
    expect((await done).code).toBe(0);
    expect(existsSync(credentialsFile(home))).toBe(true);
  });

  it('stops waiting, saving nothing, when the link is opened twice (another program read it)', async () => {
    const home = configHome();
    const { done, printed, link } = await startBrowserLogin(home);
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(302);
    const second = await fetch(link, { redirect: 'manual' });
    expect(second.status).toBe(400);
    expect(await second.text()).toContain('opened twice');
    const result = await done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_ABORTED: the sign-in link was opened twice/m);
    // Whoever took the first redirect cannot finish the login: the listener is gone.
    const consent = await browserSignInForCli(server.url, printed, idp, ALICE);
    await expect(fetch(await confirm(consent))).rejects.toThrow();
    expect(existsSync(credentialsFile(home))).toBe(false);
  });

  it('ends the login when the link is opened though no browser took it (read from a command line), and takes the printed URL when nobody opens it', async () => {
    const burnt = await startBrowserLogin(configHome(), 1);
    // Opened before or after the CLI learns the browser failed: either way the login ends.
    expect([302, 400]).toContain((await fetch(burnt.link, { redirect: 'manual' })).status);
    const result = await burnt.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_ABORTED: the sign-in link was opened though no browser took it/m);

    const home = configHome();
    const unopened = await startBrowserLogin(home, 1);
    const consent = await browserSignInForCli(server.url, unopened.printed, idp, ALICE);
    expect((await visit(await confirm(consent))).status).toBe(200);
    expect((await unopened.done).code).toBe(0);
    expect(existsSync(credentialsFile(home))).toBe(true);
  });

  it('opens no browser where none can be (Linux without a display or $BROWSER): it only prints the URL', async () => {
    const child = spawnCli(['login', '--broker', server.url], { XDG_CONFIG_HOME: configHome() });
    const done = finished(child);
    await waitForStderr(child, LOGIN_PROMPT);
    child.kill('SIGTERM');
    const { stderr } = await done;
    expect(stderr).toMatch(/^To sign in, open this URL in a browser on this computer:/m);
    expect(stderr).not.toMatch(/Opening a browser/);

    // Under WSL there is a browser (Windows'), with no display of Linux's.
    const wsl = spawnCli(['login', '--broker', server.url], { XDG_CONFIG_HOME: configHome(), WSL_DISTRO_NAME: 'Debian' });
    const wslDone = finished(wsl);
    await waitForStderr(wsl, LOGIN_PROMPT);
    wsl.kill('SIGTERM');
    expect((await wslDone).stderr).toMatch(/^Opening a browser to sign in/m);
  });

  it('ends at once, saving nothing, when the person cancels in the browser', async () => {
    const home = configHome();
    const cli = await startCliLogin(home);
    const consent = await browserSignInForCli(server.url, cli.url, idp, ALICE);
    const callback = await confirm(consent, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.has('code')).toBe(false);
    await visit(callback);
    const result = await cli.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_CANCELLED: the sign-in was cancelled in the browser; nothing was saved$/m);
    expect(existsSync(credentialsFile(home))).toBe(false);
  });

  it('gives up with a clear message when the browser never comes back', async () => {
    const home = configHome();
    const result = await runCli(['login', '--broker', server.url, '--no-browser', '--timeout', '1s'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: LOGIN_TIMEOUT: no sign-in came back from the browser within 1s/m);
    expect(existsSync(credentialsFile(home))).toBe(false);
  });

  it('reports a refusal by the broker (an unknown IdP) at once, without waiting for a browser', async () => {
    const result = await runCli(['login', '--broker', server.url, '--no-browser', '--idp', 'elsewhere'], { XDG_CONFIG_HOME: configHome() });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('portcullis: LOGIN_REFUSED: choose an identity provider (portcullis login --idp ID): corp\n');
  });

  it('never sends the stored token to a broker other than the one it came from', async () => {
    const home = configHome();
    await login(home);
    const other = await countingServer();
    try {
      const otherUrl = other.url;
      const result = await runCli(['servers', '--broker', otherUrl], { XDG_CONFIG_HOME: home });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`portcullis: NOT_SIGNED_IN: not signed in to ${otherUrl} (your login is for ${server.url}): run \`portcullis login --broker ${otherUrl}\`\n`);
      expect(other.requests()).toBe(0);
    } finally {
      other.close();
    }
  });
});

describe('the broker side of the CLI login', () => {
  let idp: TestIdp;
  let server: TestServer;
  // Set when the broker starts: one made as the file is collected falls behind real time (which SAML sign-ins are checked on) by however long the suites before it ran.
  let clock: ManualClock;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = (extra: Record<string, string> = {}) =>
    new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: challenge, code_challenge_method: 'S256', ...extra });

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    clock = new ManualClock();
    server = await startTestServer({ config: brokerConfig(idp), clock });
  });
  afterAll(() => server.close());

  const redeem = (code: string, codeVerifier: string) =>
    fetch(`${server.url}/auth/cli/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, code_verifier: codeVerifier }) });

  async function code(): Promise<string> {
    const consent = await browserSignInForCli(server.url, `${server.url}/auth/cli/login?${params()}`, idp, ALICE);
    const callback = await confirm(consent);
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
      [{ port: '1023' }, /port must be/],
      [{ state: 'short' }, /state must be/],
      [{ code_challenge_method: 'plain' }, /S256/],
      [{ idp: 'elsewhere' }, /choose an identity provider .*: corp/],
    ] as const) {
      const res = await fetch(`${server.url}/auth/cli/login?${params(extra)}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(message);
    }
  });

  it('asks a signed-in browser session to confirm, in a page no other site may frame, never a bearer token', async () => {
    const anonymous = await fetch(`${server.url}/auth/cli/finish?${params()}`, { redirect: 'manual' });
    expect(anonymous.status).toBe(401);
    const cookie = await signIn(server.url, idp, ALICE);
    const bearer = await createApiToken(server.url, cookie, ['api'], 600);
    const withBearer = await fetch(`${server.url}/auth/cli/finish?${params()}`, { headers: { authorization: `Bearer ${bearer}` }, redirect: 'manual' });
    expect(withBearer.status).toBe(401);
    const page = await fetch(`${server.url}/auth/cli/finish?${params()}`, { headers: { cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('Sign in the Portcullis CLI?');
  });

  it('issues a code only when the confirmation comes from its own page', async () => {
    const cookie = await signIn(server.url, idp, ALICE);
    const consent = await consentPage(server.url, `/auth/cli/finish?${params()}`, cookie);
    await expect(confirm(consent, 'allow', 'https://evil.example')).rejects.toThrow(/consent answered 403/);
    const noOrigin = await fetch(`${server.url}/auth/cli/finish`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...consent.fields, decision: 'allow' }),
      redirect: 'manual',
    });
    expect(noOrigin.status).toBe(403);
    const callback = await confirm(consent);
    expect(callback.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  // Last: these move the broker's clock, which SAML sign-ins (checked on real time too) cannot follow.
  it('lets a code lapse after a minute', async () => {
    const lapsed = await code();
    clock.advance(61_000);
    expect((await redeem(lapsed, verifier)).status).toBe(401);
  });

  it('issues a token that expires when the browser session behind it does, not later', async () => {
    const cookie = await signIn(server.url, idp, { ...ALICE, issueInstant: new Date(clock.now()) });
    const signedInAt = clock.now();
    clock.advance(2 * 3600_000);
    const callback = await confirm(await consentPage(server.url, `/auth/cli/finish?${params()}`, cookie));
    const res = await redeem(callback.searchParams.get('code')!, verifier);
    const body = (await res.json()) as { expiresAt: string; user: { email: string } };
    expect(body.user.email).toBe('alice@example.com');
    // session.ttlSeconds is 8 h: the token has the 6 h the session had left.
    expect(Date.parse(body.expiresAt)).toBe(signedInAt + 8 * 3600_000);
  });
});

describe('the CLI login with several identity providers', () => {
  it('asks which one, naming them', async () => {
    const [a, b] = await Promise.all([createTestIdp('corp'), createTestIdp('partner')]);
    const identityProviders = [
      { ...a.config, emailDomains: ['example.com'] },
      { ...b.config, emailDomains: ['partner.example'] },
    ];
    const server = await startTestServer({ config: testConfig({ identityProviders }) });
    const query = (extra: Record<string, string> = {}) =>
      new URLSearchParams({ port: '49152', state: 'c'.repeat(24), code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', ...extra });
    try {
      const res = await fetch(`${server.url}/auth/cli/login?${query()}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toBe('choose an identity provider (portcullis login --idp ID): corp, partner');
      const chosen = await fetch(`${server.url}/auth/cli/login?${query({ idp: 'partner' })}`, { redirect: 'manual' });
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
    const file = credentialsFile(home);
    writeFileSync(file, JSON.stringify({ broker: 'http://127.0.0.1:9', token: 'pcl_a_b', tokenId: 'a', email: 'a@example.com', expiresAt: '2030-01-01T00:00:00Z' }), { mode: 0o644 });
    const result = await runCli(['whoami'], { XDG_CONFIG_HOME: home });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`portcullis: INSECURE_CREDENTIALS: ${file} is readable by other users (mode 644): run \`chmod 600 ${file}\`, or delete it and log in again\n`);
  });

  it('is never sent over plain http to another computer', async () => {
    const result = await runCli(['servers', '--broker', 'http://broker.example.com'], { PORTCULLIS_TOKEN: 'pcl_a_b', XDG_CONFIG_HOME: configHome() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: INSECURE_BROKER_URL: refusing plain http to broker\.example\.com/);
  });
});
