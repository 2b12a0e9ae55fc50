import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { createApiToken, postGraphQL, startTestServer, testConfig } from './test-server.js';
import type { TestServer } from './test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from './test-idp.js';
import type { TestIdp } from './test-idp.js';

export const UPSTREAM_SECRET = 'sk-upstream-4f8a2c9e1b7d';

/**
 * The test brokers' roles and upstream: engineers request on `everything` (echo, get-sum
 * and trigger-long-running-operation auto-approved), the sre group reviews there, and
 * `everything` is the MCP reference server over stdio.
 */
export const BROKER_POLICY = {
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [
        { server: 'everything', tools: ['echo', 'get-sum', 'trigger-long-running-operation'], maxDurationSeconds: 3600, autoApprove: true },
        { server: 'everything', tools: ['*'], maxDurationSeconds: 3600 },
      ],
    },
    { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
  ],
  servers: [
    {
      name: 'everything',
      transport: 'stdio',
      command: process.execPath,
      args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'],
      env: { EXAMPLE_API_KEY: UPSTREAM_SECRET },
    },
  ],
};

/** A broker whose `everything` upstream is the MCP reference server over stdio; with `scimToken`, its IdP provisions over SCIM. */
export function brokerConfig(idp: TestIdp, overrides: Record<string, unknown> = {}, scimToken?: string) {
  return testConfig({
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
    identityProviders: [scimToken ? { ...idp.config, scim: { token: scimToken } } : idp.config],
    ...BROKER_POLICY,
    ...overrides,
  });
}

/** A stdio MCP server running one of test/fixtures (`fixture` without `.ts`), with `args`. */
export function fixtureServer(name: string, fixture: string, ...args: string[]) {
  return { name, transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', `test/fixtures/${fixture}.ts`, ...args] };
}

/** Config overrides for `servers`, each of whose tools engineers get at once when they ask (auto-approved, up to `maxDurationSeconds`). */
export function selfServed<S extends { name: string }>(servers: S[], maxDurationSeconds = 600) {
  return {
    roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: servers.map((s) => ({ server: s.name, tools: ['*'], maxDurationSeconds, autoApprove: true })) }],
    servers,
  };
}

/** A signed-in engineer (alice unless another is asked for): GraphQL, grants and tokens as that person. */
export interface BrokerPerson {
  cookie: string;
  /** GraphQL as this person. */
  gql(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } }>;
  /** An auto-approved grant for `tools` (or a fuller scope) on `server` (1 h unless said) and its id. */
  grant(scope: string[] | GrantAsk, durationSeconds?: number, server?: string): Promise<string>;
  /** A fresh token with these scopes. */
  token(scopes?: string[]): Promise<string>;
}

/** What a request asks for beyond tool names (each kind omitted: what the rule offers, see CreateAccessRequestInput). */
export interface GrantAsk {
  tools?: string[];
  resources?: string[];
  prompts?: string[];
  readOnly?: boolean;
}

export interface BrokerFixture extends BrokerPerson {
  server: TestServer;
  idp: TestIdp;
  /** Another person (an engineer unless other groups are given), signed in on this broker. */
  signInAs(email: string, groups?: string[]): Promise<BrokerPerson>;
  wsUrl(server?: string): string;
  /** The Streamable HTTP endpoint of `server` ('' for the federated one). */
  httpUrl(server?: string): string;
  /** An MCP SDK client connected through the broker with `token` ('' for the federated endpoint). */
  connect(token: string, server?: string, capabilities?: ClientCapabilities): Promise<{ client: Client; transport: BrokerWebSocketTransport }>;
  /** An MCP SDK client connected over Streamable HTTP with `token` ('' for the federated endpoint). */
  connectHttp(token: string, server?: string, capabilities?: ClientCapabilities): Promise<{ client: Client; transport: StreamableHTTPClientTransport }>;
  /** A raw WebSocket to the endpoint ('' for the federated one), for malformed input. */
  raw(token: string, server?: string): Promise<WebSocket>;
  close(): Promise<void>;
}

/** An MCP SDK client connected to a broker endpoint with `token`. */
export async function connectClient(url: string, token: string, capabilities: ClientCapabilities = {}): Promise<{ client: Client; transport: BrokerWebSocketTransport }> {
  const transport = new BrokerWebSocketTransport(url, { authorization: `Bearer ${token}` });
  const client = new Client({ name: 'portcullis-test', version: '1.0.0' }, { capabilities });
  await client.connect(transport);
  return { client, transport };
}

/** A broker on `stores` (the embedded store unless given: Redis ones share state with other instances on their prefix). */
export async function startBroker(options: { overrides?: Record<string, unknown>; stores?: Stores; scimToken?: string } = {}): Promise<BrokerFixture> {
  const idp = await createTestIdp('corp');
  // Real time: grant expiry is enforced by timers here, not by a test moving a clock.
  const server = await startTestServer({ config: brokerConfig(idp, options.overrides, options.scimToken), clock: systemClock, stores: options.stores });
  const signInAs = async (email: string, groups = ['engineering']): Promise<BrokerPerson> => {
    const cookie = await signIn(server.url, idp, { nameId: email, attributes: { email, groups } });
    const gql = (query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie });
    return {
      cookie,
      gql,
      grant: async (scope, durationSeconds = 3600, serverName = 'everything') => {
        const res = await gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { grant { id } } }', {
          input: { server: serverName, ...(Array.isArray(scope) ? { tools: scope } : scope), reason: 'test', durationSeconds },
        });
        const grant = (res.body.data as { createAccessRequest: { grant: { id: string } | null } } | undefined)?.createAccessRequest.grant;
        if (!grant) throw new Error(`no grant: ${JSON.stringify(res.body)}`);
        return grant.id;
      },
      token: (scopes = ['mcp']) => createApiToken(server.url, cookie, scopes),
    };
  };
  const wsUrl = (name = 'everything') => (name === '' ? `${server.wsUrl}/mcp/ws` : `${server.wsUrl}/mcp/ws/${name}`);
  const httpUrl = (name = 'everything') => (name === '' ? `${server.url}/mcp` : `${server.url}/mcp/${name}`);
  const fixture: BrokerFixture = {
    ...(await signInAs('alice@example.com')),
    server,
    idp,
    signInAs,
    wsUrl,
    connect: (token, name, capabilities = {}) => connectClient(wsUrl(name), token, capabilities),
    httpUrl,
    connectHttp: async (token, name, capabilities = {}) => {
      const transport = new StreamableHTTPClientTransport(new URL(httpUrl(name)), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
      const client = new Client({ name: 'portcullis-test', version: '1.0.0' }, { capabilities });
      await client.connect(transport);
      return { client, transport };
    },
    raw: async (token, name) => {
      const ws = new WebSocket(wsUrl(name), 'mcp', { headers: { authorization: `Bearer ${token}` } });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return ws;
    },
    close: () => server.close(),
  };
  return fixture;
}

/**
 * Embedded stores whose next MCP session admission runs `meanwhile` (once) in its session-cap
 * lease step: after admission read the grants, before the session is registered where the
 * revocation fan-out reaches it. `pending()` is true until it ran.
 */
export async function storesWithAdmissionStep(): Promise<AdmissionStep & { stores: Stores }> {
  const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-admission-')), clock: systemClock });
  return { stores, ...admissionStep(stores) };
}

export interface AdmissionStep {
  /** Runs `action` during the next MCP session's admission, as it takes its place (the lease), before it starts. */
  meanwhile(action: () => Promise<unknown>): void;
  pending(): boolean;
}

/** Lets a test act on `stores` between a session's admission checks and its start. */
export function admissionStep(stores: Stores): AdmissionStep {
  let next: (() => Promise<unknown>) | undefined;
  const acquire = stores.leases.acquire.bind(stores.leases);
  stores.leases.acquire = async (group, ...rest) => {
    const during = group.startsWith('mcp-sessions:') ? next : undefined;
    next = undefined;
    await during?.();
    return acquire(group, ...rest);
  };
  return { meanwhile: (action) => void (next = action), pending: () => next !== undefined };
}

/** Starts brokers for the tests of the calling suite, each closed after its test. */
export function brokersPerTest(): () => Promise<BrokerFixture> {
  const fixtures: BrokerFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });
  return async () => {
    const fx = await startBroker();
    fixtures.push(fx);
    return fx;
  };
}

/** The HTTP status the broker answers an upgrade with (101 when it accepts). */
export async function upgradeStatus(url: string, headers: Record<string, string>, protocol = 'mcp'): Promise<number> {
  return (await upgradeAnswer(url, headers, protocol)).status;
}

/** The status of an upgrade's answer (101 when it opened, then closed at once) and its `WWW-Authenticate` challenge. */
export function upgradeAnswer(url: string, headers: Record<string, string>, protocol = 'mcp'): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocol, { headers });
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, challenge: undefined });
    });
    ws.once('error', () => {});
  });
}

/** Sends one frame and resolves with the next message the broker sends back. */
export function exchange(ws: WebSocket, frame: string): Promise<unknown> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(JSON.parse(data.toString())));
    ws.send(frame);
  });
}

/** Sends one request frame and resolves with the broker's answer to it (notifications in between are passed over). */
export function answerTo(ws: WebSocket, frame: string): Promise<unknown> {
  const { id } = JSON.parse(frame) as { id: unknown };
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as { id?: unknown };
      if (message.id !== id) return;
      ws.off('message', onMessage);
      resolve(message);
    };
    ws.on('message', onMessage);
    ws.send(frame);
  });
}
