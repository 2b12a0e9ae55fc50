import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { literalCredentials } from '../../server/config/redact.js';
import { configSchema } from '../../server/config/schema.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { createPortcullisServer } from '../../server/http/server.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { auditLogOptions } from '../../server/stores/index.js';
import type { Stores } from '../../server/stores/types.js';
import type { Clock } from '../../server/clock.js';
import type { Detector } from '../../server/detection/detector.js';
import { captureLogs } from './log-capture.js';
import { ManualClock } from './manual-clock.js';

export interface TestServer {
  url: string;
  wsUrl: string;
  stores: Stores;
  logs: string[];
  /** The server's outlier detector (null when detection is off). */
  detector: Detector | null;
  close(): Promise<void>;
}

/**
 * A minimal valid config on a free loopback port; `overrides` are merged at the top level.
 * Every test client shares 127.0.0.1, so the per-address limits are out of the way unless a
 * test sets `rateLimits` itself; outlier detection is off unless a test sets `detection`.
 */
export function testConfig(overrides: Record<string, unknown> = {}): PortcullisConfig {
  return configSchema.parse({
    server: { host: '127.0.0.1', port: 0, publicUrl: 'http://127.0.0.1:8080' },
    store: { dataDir: mkdtempSync(join(tmpdir(), 'portcullis-test-')) },
    logging: { level: 'debug' },
    rateLimits: { unauthenticated: { points: 1_000_000, durationSeconds: 60 }, graphql: { points: 1_000_000, durationSeconds: 60 } },
    // Off unless a test turns it on: its anomaly events would change what other tests count in the log.
    detection: { enabled: false },
    ...overrides,
  });
}

/** A real broker on loopback (the embedded store its config's audit section describes, unless stores are given), logs captured. */
export async function startTestServer(options: { config?: PortcullisConfig; stores?: Stores; clock?: Clock } = {}): Promise<TestServer> {
  const config = options.config ?? testConfig();
  const clock = options.clock ?? new ManualClock();
  const stores = options.stores ?? (await createEmbeddedStores({ dataDir: config.store.dataDir, clock, audit: auditLogOptions(config.audit) }));
  // As main.ts does: the config's literal credentials are scrubbed wherever they would go out.
  const { logger, scrubber, lines: logs } = captureLogs({ level: config.logging.level, secrets: literalCredentials(config), traceIds: config.observability.tracing.enabled });
  const server = await createPortcullisServer({ config, stores, logger, scrubber, clock, baseDir: process.cwd() });
  const address = await server.listen();
  return {
    url: `http://127.0.0.1:${address.port}`,
    wsUrl: `ws://127.0.0.1:${address.port}`,
    stores,
    logs,
    detector: server.detector,
    close: async () => {
      await server.close();
      await stores.close();
    },
  };
}

export interface GraphQLBody {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export async function postGraphQL(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: GraphQLBody }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as GraphQLBody };
}

/** A new API token for the signed-in `cookie`'s user, through the API as a user would get one. */
export async function createApiToken(url: string, cookie: string, scopes: string[], ttlSeconds = 3600): Promise<string> {
  const { body } = await postGraphQL(url, { query: 'mutation($s: [String!]!, $ttl: Int!) { createApiToken(name: "test", scopes: $s, ttlSeconds: $ttl) { token } }', variables: { s: scopes, ttl: ttlSeconds } }, { cookie });
  const token = (body.data as { createApiToken: { token: string } } | undefined)?.createApiToken.token;
  if (!token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return token;
}

/** A graphql-ws client signed in by `cookie` and coming from the public URL's origin, as the console in a browser (`headers` added to its upgrade). */
export function cookieWsClient(server: TestServer, cookie: string, publicUrl: string, headers: Record<string, string> = {}): Client {
  return createClient({
    url: `${server.wsUrl}/graphql`,
    retryAttempts: 0,
    webSocketImpl: class extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { ...headers, cookie, origin: new URL(publicUrl).origin } });
      }
    },
  });
}

export function graphqlWsClient(wsUrl: string): Client {
  return createClient({ url: `${wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

/** Runs one operation over graphql-ws and returns its single result, or throws its errors. */
export function executeOverWs(client: Client, query: string): Promise<{ data?: unknown; errors?: readonly { message: string }[] }> {
  return new Promise((resolve, reject) => {
    let result: { data?: unknown } | undefined;
    client.subscribe(
      { query },
      {
        next: (value) => (result = value as { data?: unknown }),
        error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error)),
        complete: () => resolve(result ?? {}),
      },
    );
  });
}

/** Several broker instances sharing one Redis (one key prefix), as a deployment runs them. */
export async function startInstancesOnRedis(config: PortcullisConfig, count = 2, clock?: Clock): Promise<TestServer[]> {
  const { redisStoresForTest, uniquePrefix } = await import('./redis.js');
  const prefix = uniquePrefix();
  return Promise.all(Array.from({ length: count }, async () => startTestServer({ stores: await redisStoresForTest({ prefix, clock }), config, clock })));
}
