import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { finished, spawnCli, waitForStderr } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';
import { createApiToken, postGraphQL, startTestServer } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { brokerConfig } from '../support/broker-fixture.js';

/**
 * Security review, class 0: no input on any socket, at any moment, may end the process.
 * A real `portcullis serve` process; every endpoint's handshake is cut by a TCP reset
 * (RST, not a polite FIN) at every stage, many times over, and the broker must still
 * answer afterwards.
 */

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const upgrade = (path: string, headers: string[]) =>
  [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`, ...headers, '', ''].join('\r\n');
const post = (path: string, type: string, body: string, headers: string[] = []) =>
  [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`, ...headers, '', body].join('\r\n');

/** When the reset comes, relative to what the client sent and what the broker answered. */
const STAGES = {
  'halfway through the request': async (socket: Socket, request: string) => {
    socket.write(request.slice(0, Math.floor(request.length / 2)));
    await settle(5);
  },
  'right after the request': async (socket: Socket, request: string) => {
    socket.write(request);
  },
  'while the broker is still deciding': async (socket: Socket, request: string) => {
    socket.write(request);
    await settle(1);
  },
  'after the first bytes of the answer': async (socket: Socket, request: string) => {
    socket.write(request);
    await new Promise((resolve) => socket.once('data', resolve));
  },
  'in the middle of a first frame after the answer': async (socket: Socket, request: string) => {
    socket.write(request);
    await new Promise((resolve) => socket.once('data', resolve));
    // A masked text frame header promising 100 bytes, and only some of them.
    socket.write(Buffer.from([0x81, 0xe4, 1, 2, 3, 4, 5, 6, 7, 8]));
    await settle(2);
  },
} as const;

function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function resetAt(port: number, request: string, stage: (socket: Socket, request: string) => Promise<void>): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  await Promise.race([stage(socket, request), settle(2_000)]);
  socket.resetAndDestroy();
}

describe('a reset at any stage of any handshake never ends the broker', () => {
  let idp: TestIdp;
  let child: ChildProcess;
  let done: Promise<CliResult>;
  let url: string;
  let port: number;
  let token: string;
  let cookie: string;

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-resets-'));
    const file = join(dir, 'portcullis.yaml');
    const config = brokerConfig(idp, { store: { dataDir: join(dir, 'data') }, logging: { level: 'warn' } });
    // JSON is YAML: the parsed test config, written as the file `serve` reads.
    writeFileSync(file, JSON.stringify({ ...config, server: { ...config.server, port: 0 } }));
    child = spawnCli(['serve', '--config', file]);
    done = finished(child);
    [, url] = (await waitForStderr(child, /listening on (http:\/\/\S+)/)) as unknown as [string, string];
    port = Number(new URL(url).port);
    cookie = await signIn(url, idp, { attributes: { email: 'alice@example.com', groups: ['engineering'] } });
    token = await createApiToken(url, cookie, ['api', 'mcp']);
    await postGraphQL(url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "t", durationSeconds: 600 }) { id } }' }, { cookie });
  });

  afterAll(async () => {
    child.kill('SIGTERM');
    await done;
  });

  const requests = (): Record<string, string> => ({
    'MCP upgrade with a bad token': upgrade('/mcp/ws/everything', ['Sec-WebSocket-Protocol: mcp', 'Authorization: Bearer pcl_bad_bad']),
    'MCP upgrade with a good token': upgrade('/mcp/ws/everything', ['Sec-WebSocket-Protocol: mcp', `Authorization: Bearer ${token}`]),
    'federated MCP upgrade': upgrade('/mcp/ws', ['Sec-WebSocket-Protocol: mcp', `Authorization: Bearer ${token}`]),
    'GraphQL upgrade': upgrade('/graphql', ['Sec-WebSocket-Protocol: graphql-transport-ws']),
    'upgrade to an unknown path': upgrade('/nowhere', []),
    'SAML ACS post': post('/auth/saml/corp/acs', 'application/x-www-form-urlencoded', `SAMLResponse=${encodeURIComponent(Buffer.from(idp.signedResponse({})).toString('base64'))}`),
    'GraphQL post': post('/graphql', 'application/json', JSON.stringify({ query: '{ me { email } }' }), [`Authorization: Bearer ${token}`]),
    'CLI token exchange': post('/auth/cli/token', 'application/json', JSON.stringify({ code: 'x'.repeat(43), code_verifier: 'y'.repeat(43) })),
    'sign-in start': `GET /auth/saml/corp/login?returnTo=%2F HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
  });

  it('survives every endpoint reset at every stage, five times over, and still serves', async () => {
    for (const [endpoint, request] of Object.entries(requests())) {
      for (const [when, stage] of Object.entries(STAGES)) {
        for (let round = 0; round < 5; round++) await resetAt(port, request, stage);
        expect(child.exitCode, `broker exited after a reset ${when} of a ${endpoint}`).toBeNull();
      }
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // And a real MCP session still opens.
    const ws = new WebSocket(`${url.replace('http', 'ws')}/mcp/ws/everything`, 'mcp', { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.close();
  }, 120_000);
});

describe('upgrades during shutdown', () => {
  it('are refused with 503 "shutting down", not a misleading store error', async () => {
    const idp = await createTestIdp('corp');
    const server = await startTestServer({ config: brokerConfig(idp) });
    const cookie = await signIn(server.url, idp, { attributes: { email: 'alice@example.com', groups: ['engineering'] } });
    const token = await createApiToken(server.url, cookie, ['mcp']);
    await postGraphQL(server.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "t", durationSeconds: 600 }) { id } }' }, { cookie });
    // A live session keeps the shutdown busy (its upstream process must stop) while we knock.
    const live = new WebSocket(`${server.wsUrl}/mcp/ws/everything`, 'mcp', { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve) => live.once('open', resolve));
    live.on('error', () => {});
    const closing = server.close();
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write(upgrade('/mcp/ws/everything', ['Sec-WebSocket-Protocol: mcp', `Authorization: Bearer ${token}`])));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });
    await closing;
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toMatch(/\r\n\r\nshutting down\n$/);
  });
});
