import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { bridgeClient, CLI, saveLogin } from '../support/bridge-client.js';
import type { BridgeClient } from '../support/bridge-client.js';
import { finished, runCli } from '../support/cli.js';

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** A token and its id, for revoking it. */
async function tokenWithId(fx: BrokerFixture): Promise<{ token: string; id: string }> {
  const res = await fx.gql('mutation { createApiToken(name: "bridge", scopes: ["mcp"], ttlSeconds: 3600) { token apiToken { id } } }');
  const created = (res.body.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
  return { token: created.token, id: created.apiToken.id };
}

/** The bridge said `line` on stderr; it answers the next request with the same words, then ends. */
async function expectEndedWith({ client, stderr, ended }: BridgeClient, line: string, reason: string): Promise<void> {
  await expect.poll(stderr).toContain(line);
  const refused = await client.callTool({ name: 'echo', arguments: { message: 'after' } }).then(() => null, (error: unknown) => error);
  expect(refused).toMatchObject({ code: -32001, data: { reason } });
  expect((refused as Error).message).toContain(line);
  await ended;
}

describe('portcullis connect (stdio bridge)', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker();
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('without a grant, says why on stderr, answers initialize with the same words, and exits 1', async () => {
    const child = spawn(process.execPath, [...CLI, 'connect', 'everything', '--broker', fx.server.url], {
      env: { PATH: process.env.PATH, PORTCULLIS_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.write(`${JSON.stringify(INITIALIZE)}\n`);
    const result = await finished(child);
    const line = 'portcullis: no access (403: no active grant for everything): request access with `portcullis request everything`';
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(line);
    expect(JSON.parse(result.stdout)).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32001, message: line, data: { reason: 'access_refused' } } });
  });

  it('without any login, answers initialize with the reason (clients hide stderr)', async () => {
    const { client, transport, stderr, ended } = bridgeClient(['everything', '--broker', fx.server.url], {});
    const refused = await client.connect(transport).then(() => null, (error: unknown) => error);
    expect(refused).toMatchObject({ code: -32001, data: { reason: 'not_signed_in' } });
    expect((refused as Error).message).toContain('portcullis: NOT_SIGNED_IN: not signed in: run `portcullis login --broker URL` (or set PORTCULLIS_TOKEN)');
    await ended;
    expect(stderr()).toContain('portcullis: NOT_SIGNED_IN: not signed in');
  });

  it('refuses to run without a token, saying where one comes from, when stdin ends', async () => {
    const result = await runCli(['connect', 'everything', '--broker', fx.server.url], { XDG_CONFIG_HOME: '/nonexistent' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/NOT_SIGNED_IN: not signed in: run `portcullis login/);
  });

  it('lets the official SDK client use the server over stdio through the broker', async () => {
    await fx.grant(['echo']);
    const { client, transport } = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'via stdio' } })).content)).toContain('via stdio');
    await expect(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).rejects.toMatchObject({ code: -32001 });
    await client.close();
  });

  it('with --all, bridges to the federated endpoint: every server the caller holds a grant for', async () => {
    await fx.grant(['echo']);
    const { client, transport } = bridgeClient(['--all', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['everything__echo']);
    expect(JSON.stringify((await client.callTool({ name: 'everything__echo', arguments: { message: 'federated' } })).content)).toContain('federated');
    await client.close();
  });

  it('takes one server or --all, not both and not neither', async () => {
    for (const args of [['everything', '--all'], []]) {
      const result = await runCli(['connect', ...args, '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('INVALID_ARGUMENT: name one server, or give --all');
    }
  });
});

describe('portcullis connect ends with the reason when access ends', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker();
  });
  afterAll(() => fx.close());

  it('a revoked grant (4403): the reason on stderr and as the error of the next request, then the bridge ends', async () => {
    const grantId = await fx.grant(['echo']);
    const bridge = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: await fx.token() });
    await bridge.client.connect(bridge.transport);
    await bridge.client.callTool({ name: 'echo', arguments: { message: 'before' } });
    await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { id } }', { id: grantId });
    await expectEndedWith(bridge, 'portcullis: access ended (4403 grant revoked): request access again with `portcullis request everything`', 'grant_ended');
  });

  it('a revoked token (4401): the reason on stderr and as the error of the next request, then the bridge ends', async () => {
    await fx.grant(['echo']);
    const { token, id } = await tokenWithId(fx);
    const bridge = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
    await bridge.client.connect(bridge.transport);
    await fx.gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id });
    await expectEndedWith(bridge, 'portcullis: the broker ended the session (4401 API token revoked): sign in again with `portcullis login`, or check PORTCULLIS_TOKEN', 'credential_ended');
  });

  it('a revoked token with a newer login at hand: reconnects with the new token and carries on', async () => {
    await fx.grant(['echo']);
    const configHome = mkdtempSync(join(tmpdir(), 'portcullis-login-'));
    const first = await tokenWithId(fx);
    saveLogin(configHome, fx.server.url, first.token, first.id);
    const { client, transport, stderr } = bridgeClient(['everything'], { XDG_CONFIG_HOME: configHome });
    await client.connect(transport);
    const second = await tokenWithId(fx);
    saveLogin(configHome, fx.server.url, second.token, second.id);
    await fx.gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: first.id });
    await expect.poll(stderr).toContain('portcullis: the broker ended the session (4401 API token revoked); reconnecting with the newer login');
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'new token' } })).content)).toContain('new token');
    await client.close();
  });
});
