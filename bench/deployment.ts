import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiToken, postGraphQL } from '../test/support/test-server.js';
import { signIn, TEST_PUBLIC_URL } from '../test/support/test-idp.js';
import type { TestIdp } from '../test/support/test-idp.js';
import type { BrokerProcess, HttpUpstream } from './processes.js';
import { ECHO_UPSTREAM, STDIO_UPSTREAM } from './processes.js';

/** What every scenario shares: one private Redis, one test IdP, one Streamable HTTP upstream. */
export interface BenchEnvironment {
  redisUrl: string;
  idp: TestIdp;
  httpUpstream: HttpUpstream;
}

/** The upstream names the bench config declares, all serving an `echo` tool: the SDK server over HTTP and stdio, and the minimal one over stdio. */
export type UpstreamName = 'http' | 'stdio' | 'echo';

/**
 * The broker config for one scenario: Redis store under a key prefix of its own (so
 * instances given the same prefix share state, and scenarios do not see each other),
 * warn-level logs, engineers auto-approved for `echo` on every upstream, and an auditor
 * role; `httpServer` adds keys to the `http` server's entry (its policy: rate limits...).
 */
/** The bench deployment; `http` adds to the `http` server's entry and to the engineers' rule for it (policy variants). */
export function benchConfig(env: BenchEnvironment, prefix = `bench:${randomUUID()}:`, http: { server?: Record<string, unknown>; rule?: Record<string, unknown> } = {}): Record<string, unknown> {
  const engineerRule = (server: UpstreamName) => ({ server, tools: ['echo'], maxDurationSeconds: 3600, autoApprove: true, ...(server === 'http' ? http.rule : {}) });
  return {
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
    store: { redis: { url: env.redisUrl, keyPrefix: prefix }, dataDir: mkdtempSync(join(tmpdir(), 'portcullis-bench-')) },
    logging: { level: 'warn' },
    // Every bench client signs in and calls GraphQL from 127.0.0.1: the per-address limits would cap the scenarios.
    rateLimits: { unauthenticated: { points: 1_000_000, durationSeconds: 60 }, graphql: { points: 1_000_000, durationSeconds: 60 } },
    // The scenarios open thousands of sessions as a handful of people: caps out of the way.
    broker: { maxSessionsPerUser: 100_000, maxSessionsPerInstance: 100_000, maxUpstreamProcesses: 100_000 },
    identityProviders: [env.idp.config],
    roles: [
      { name: 'engineer', members: { groups: ['engineering'] }, request: [engineerRule('http'), engineerRule('stdio'), engineerRule('echo')] },
      { name: 'auditor', members: { groups: ['security'] }, audit: true },
    ],
    servers: [
      { name: 'http', transport: 'streamable-http', url: env.httpUpstream.url, ...http.server },
      { name: 'stdio', transport: 'stdio', command: STDIO_UPSTREAM.command, args: STDIO_UPSTREAM.args },
      { name: 'echo', transport: 'stdio', command: ECHO_UPSTREAM.command, args: ECHO_UPSTREAM.args },
    ],
  };
}

/** A signed-in user of one broker (any instance sharing its store works alike). */
export interface Person {
  grant(server: UpstreamName): Promise<string>;
  token(scopes: string[]): Promise<string>;
  revoke(grantId: string): Promise<void>;
}

export async function signInPerson(broker: BrokerProcess, idp: TestIdp, name: string, groups: string[]): Promise<Person> {
  const email = `${name}@example.com`;
  const cookie = await signIn(broker.url, idp, { nameId: email, attributes: { email, groups } });
  const gql = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    const { body } = await postGraphQL(broker.url, { query, variables }, { cookie });
    if (body.errors || !body.data) throw new Error(`GraphQL failed: ${JSON.stringify(body)}`);
    return body.data as T;
  };
  return {
    grant: async (server) => {
      const data = await gql<{ createAccessRequest: { grant: { id: string } | null } }>(
        'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { grant { id } } }',
        { input: { server, tools: ['echo'], reason: 'benchmark', durationSeconds: 3600 } },
      );
      if (!data.createAccessRequest.grant) throw new Error(`no grant issued for ${name} on ${server}`);
      return data.createAccessRequest.grant.id;
    },
    token: (scopes) => createApiToken(broker.url, cookie, scopes),
    revoke: async (grantId) => {
      await gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "benchmark") { status } }', { id: grantId });
    },
  };
}

/** A signed-in engineer holding a grant for `echo` on `server` and an `mcp` token: what a brokered session needs. */
export async function engineerWithGrant(broker: BrokerProcess, idp: TestIdp, name: string, server: UpstreamName): Promise<{ person: Person; grantId: string; token: string }> {
  const person = await signInPerson(broker, idp, name, ['engineering']);
  const grantId = await person.grant(server);
  return { person, grantId, token: await person.token(['mcp']) };
}
