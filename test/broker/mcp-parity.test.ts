import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';
import { waitForStderr } from '../support/cli.js';
import { CLI } from '../support/bridge-client.js';
import { createApiToken, postGraphQL } from '../support/test-server.js';
import { signIn } from '../support/test-idp.js';
import { AS_IS, exercise, federatedNames } from '../support/mcp-exercise.js';

/**
 * Issue 13: the whole of MCP through every endpoint. The same script, run directly against
 * the reference server and through the broker (single server; federated over two and over
 * three servers, one of them on Streamable HTTP), must see the same results for every
 * feature the reference server has.
 */

const REFERENCE = ['node_modules/@modelcontextprotocol/server-everything/dist/index.js'];
const EVERYTHING = { name: 'everything', transport: 'stdio', command: process.execPath, args: [...REFERENCE, 'stdio'] };
const PAGED = fixtureServer('paged', 'paged-upstream');
// Every tool, resource and prompt: the parity script uses them all.
const rule = (server: string) => ({ server, tools: ['*'], resources: ['*'], prompts: ['*'], maxDurationSeconds: 3600, autoApprove: true });

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('the same MCP script, directly and through every endpoint', () => {
  let direct: Record<string, unknown>;
  let http: ChildProcess;
  let httpUrl: string;
  let fx: BrokerFixture;
  let token: string;
  /** A second person, granted two of the three servers. */
  let twoServers: string;

  beforeAll(async () => {
    direct = await exercise(new StdioClientTransport({ command: process.execPath, args: [...REFERENCE, 'stdio'], stderr: 'ignore' }), AS_IS);
    const port = await freePort();
    http = spawn(process.execPath, [...REFERENCE, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    await waitForStderr(http, /listening on port/);
    httpUrl = `http://127.0.0.1:${port}/mcp`;
    const servers = [EVERYTHING, PAGED, { name: 'everything-http', transport: 'streamable-http', url: httpUrl }];
    fx = await startBroker({
      overrides: {
        servers,
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: servers.map((s) => rule(s.name)) }],
        broker: { maxSessionsPerUser: 100 },
      },
    });
    for (const server of ['everything', 'paged', 'everything-http']) await fx.grant(['*'], 3600, server);
    token = await fx.token();
    const bob = await signIn(fx.server.url, fx.idp, { nameId: 'bob@example.com', attributes: { email: 'bob@example.com', groups: ['engineering'] } });
    for (const server of ['everything', 'paged']) {
      await postGraphQL(fx.server.url, { query: 'mutation($s: String!) { createAccessRequest(input: { server: $s, tools: ["*"], reason: "parity", durationSeconds: 3600 }) { id } }', variables: { s: server } }, { cookie: bob });
    }
    twoServers = await createApiToken(fx.server.url, bob, ['mcp']);
  }, 120_000);

  afterAll(async () => {
    await fx?.close();
    http?.kill();
  });

  const through = (path: string) => new BrokerWebSocketTransport(`${fx.server.wsUrl}${path}`, { authorization: `Bearer ${token}` });

  it('single-server endpoint', async () => {
    expect(await exercise(through('/mcp/ws/everything'), AS_IS)).toEqual(direct);
  }, 120_000);

  it('federated endpoint over two servers', async () => {
    const transport = new BrokerWebSocketTransport(`${fx.server.wsUrl}/mcp/ws`, { authorization: `Bearer ${twoServers}` });
    expect(await exercise(transport, federatedNames('everything'))).toEqual(direct);
  }, 120_000);

  it('federated endpoint, the stdio server among three', async () => {
    expect(await exercise(through('/mcp/ws'), federatedNames('everything'))).toEqual(direct);
  }, 120_000);

  it('federated endpoint, the Streamable HTTP server among three', async () => {
    expect(await exercise(through('/mcp/ws'), federatedNames('everything-http'))).toEqual(direct);
  }, 120_000);

  it('the stdio bridge, `portcullis connect`, to one server and to all of them', async () => {
    const bridge = (args: string[]) =>
      new StdioClientTransport({ command: process.execPath, args: [...CLI, 'connect', ...args, '--broker', fx.server.url], env: { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: '/nonexistent', PORTCULLIS_TOKEN: token }, stderr: 'ignore' });
    expect(await exercise(bridge(['everything']), AS_IS)).toEqual(direct);
    expect(await exercise(bridge(['--all']), federatedNames('everything'))).toEqual(direct);
  }, 180_000);
});
