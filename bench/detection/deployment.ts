import type { PortcullisConfig } from '../../server/config/schema.js';
/**
 * The broker the workload runs through: in this process (its clock is the workload's), on
 * the embedded store, every catalog server on the workload upstream, one role per catalog
 * role whose people are auto-approved for the role's servers (every tool but `admin_*`),
 * and an auditor who follows the alerts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiToken, postGraphQL, startTestServer, testConfig } from '../../test/support/test-server.js';
import type { TestServer } from '../../test/support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../../test/support/test-idp.js';
import type { TestIdp } from '../../test/support/test-idp.js';
import type { ManualClock } from '../../test/support/manual-clock.js';
import { DENIED_TOOLS, ROLES, SERVER_NAMES } from './catalog.js';
import type { WorkloadUpstream } from './upstream.js';

/** Long enough for every grant and token to outlive the simulated weeks (the config's caps allow it). */
const LONGEST_SECONDS = 60 * 86400;
const TOKEN_TTL_SECONDS = 90 * 86400;
/** Within the default session.ttlSeconds (8 h). */
const RESIGN_IN_MS = 4 * 3_600_000;

export function workloadConfig(upstream: WorkloadUpstream, idp: TestIdp, detection: Record<string, unknown>) {
  return testConfig({
    server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
    identityProviders: [idp.config],
    logging: { level: 'warn' },
    // Every audit append is fdatasync'd: on a disk that is a millisecond a call, and the
    // replay would measure the disk. In memory (tmpfs) the store is the same code.
    store: { dataDir: mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'portcullis-workload-')) },
    apiTokens: { maxTtlSeconds: TOKEN_TTL_SECONDS },
    approvals: { requiredApprovals: 1, requestTtlSeconds: 86400, maxDurationSeconds: LONGEST_SECONDS },
    // A person's session stays open through their working day, however quiet; exports and archives are large frames.
    broker: { idleTimeoutSeconds: 86400, maxSessionsPerUser: 1000, maxSessionsPerInstance: 100_000, maxFrameBytes: 4 * 1024 * 1024 },
    roles: [
      ...ROLES.map((role) => ({
        name: role.name,
        members: { groups: [role.group] },
        request: role.servers.map((server) => ({ server, tools: ['*'], denyTools: [DENIED_TOOLS], maxDurationSeconds: LONGEST_SECONDS, autoApprove: true })),
      })),
      { name: 'auditor', members: { groups: ['security'] }, audit: true },
    ],
    servers: SERVER_NAMES.map((name) => ({ name, transport: 'streamable-http', url: upstream.url(name) })),
    detection,
  });
}

/** A signed-in person: an `api` + `mcp` token outliving the period, and access requests. */
export interface SignedIn {
  token: string;
  /** An auto-approved grant on `server` until `until` (simulated ms). */
  grant(server: string, until: number): Promise<void>;
}

export async function signInPerson(server: TestServer, idp: TestIdp, clock: ManualClock, email: string, groups: string[], scopes = ['api', 'mcp']): Promise<SignedIn> {
  // The IdP asserts as of the broker's (simulated) clock.
  const signInNow = () => {
    const now = clock.now();
    return signIn(server.url, idp, { nameId: email, attributes: { email, groups }, issueInstant: new Date(now), notBefore: new Date(now - 60_000), notOnOrAfter: new Date(now + 300_000) });
  };
  const cookie = await signInNow();
  let signedInAt = clock.now();
  const token = await createApiToken(server.url, cookie, scopes, TOKEN_TTL_SECONDS);
  return {
    token,
    grant: async (name, until) => {
      // A request through a token is approved at once only after a recent sign-in (server/identity/fresh-decider.ts): people sign in each working day.
      if (clock.now() - signedInAt > RESIGN_IN_MS) {
        await signInNow();
        signedInAt = clock.now();
      }
      const { body } = await postGraphQL(
        server.url,
        { query: 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { grant { id } } }', variables: { input: { server: name, reason: 'workload', durationSeconds: Math.floor((until - clock.now()) / 1000) } } },
        { authorization: `Bearer ${token}` },
      );
      if (!(body.data as { createAccessRequest?: { grant: unknown } } | undefined)?.createAccessRequest?.grant) throw new Error(`no grant for ${email} on ${name}: ${JSON.stringify(body)}`);
    },
  };
}

/** The broker, and a close that also removes its data directory (in memory: it must not outlive the run). */
export async function startWorkloadBroker(upstream: WorkloadUpstream, clock: ManualClock, detection: Record<string, unknown>): Promise<{ server: TestServer; idp: TestIdp; config: PortcullisConfig; close(): Promise<void> }> {
  const idp = await createTestIdp('corp');
  const config = workloadConfig(upstream, idp, detection);
  const server = await startTestServer({ config, clock });
  return {
    server,
    idp,
    config,
    close: async () => {
      await server.close();
      rmSync(config.store.dataDir, { recursive: true, force: true });
    },
  };
}

