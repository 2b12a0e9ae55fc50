import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessEvents } from '../../server/access/access-events.js';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AccessService } from '../../server/access/access-service.js';
import { configSchema } from '../../server/config/schema.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { API_TOKEN_SCOPES, Principals, rolesOf } from '../../server/identity/principal.js';
import type { Principal } from '../../server/identity/principal.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { CursorSeal } from '../../server/stores/sealed-cursor.js';
import type { Stores, UserIdentity } from '../../server/stores/types.js';
import { ManualClock } from './manual-clock.js';
import { redisStoresForTest } from './redis.js';

/** The roles the access tests run against (the shape of the documented example). */
export function accessConfig(overrides: { requiredApprovals?: number; engineerRules?: Record<string, unknown>[] } = {}): PortcullisConfig {
  return configSchema.parse({
    server: { publicUrl: 'http://127.0.0.1:8080' },
    roles: [
      {
        name: 'engineer',
        members: { groups: ['engineering'] },
        request: overrides.engineerRules ?? [
          { server: 'everything', tools: ['*'], denyTools: ['*delete*'], maxDurationSeconds: 14400 },
          { server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 3600, autoApprove: true },
        ],
      },
      { name: 'sre-lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
      { name: 'echo-reviewer', members: { groups: ['support'] }, review: [{ server: 'everything', tools: ['echo'] }] },
      { name: 'auditor', members: { groups: ['security'] }, audit: true },
    ],
    approvals: { requiredApprovals: overrides.requiredApprovals ?? 1, requestTtlSeconds: 3600, maxDurationSeconds: 86400 },
    servers: [
      { name: 'everything', transport: 'stdio', command: 'node' },
      { name: 'docs', transport: 'streamable-http', url: 'http://127.0.0.1:9/mcp' },
    ],
  });
}

export function user(name: string, groups: string[]): UserIdentity {
  return { id: `corp:${name}`, idp: 'corp', nameId: name, email: `${name}@example.com`, displayName: name, groups };
}

export function principalOf(identity: UserIdentity, config: PortcullisConfig): Principal {
  return { user: identity, roles: rolesOf(identity, config.roles), scopes: new Set(API_TOKEN_SCOPES), credential: { kind: 'session', id: `s-${identity.nameId}`, expiresAt: Number.MAX_SAFE_INTEGER } };
}

export interface AccessFixture {
  stores: Stores;
  clock: ManualClock;
  config: PortcullisConfig;
  access: AccessService;
  events: AccessEvents;
  /** What the fixture's service seals listing cursors with: a service built anew over the same stores takes it too. */
  cursors: CursorSeal;
  as: (name: 'alice' | 'bob' | 'carol' | 'dave' | 'erin' | 'frank') => Principal;
}

export const PEOPLE = {
  alice: ['engineering'],
  bob: ['sre'],
  carol: ['security'],
  dave: ['support'],
  erin: ['sre'],
  frank: ['engineering'],
} as const;

export type Backend = 'embedded' | 'redis';

/** An AccessService on a fresh store of the given backend, with a clock the test moves. */
export async function accessFixture(backend: Backend, options: { requiredApprovals?: number; redisUrl?: string; prefix?: string; readOnlyTools?: (server: string) => Promise<string[]>; config?: PortcullisConfig } = {}): Promise<AccessFixture> {
  const clock = new ManualClock();
  const config = options.config ?? accessConfig(options);
  const stores =
    backend === 'embedded'
      ? await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-access-')), clock })
      : await redisStoresForTest({ url: options.redisUrl, prefix: options.prefix, clock });
  await stores.waitReady();
  const events = new AccessEvents(stores.events);
  const cursors = new CursorSeal(stores.cursorKeys, clock);
  const access = new AccessService({ store: stores.access, audit: stores.audit, clock, policy: new AccessPolicy(config), events, config, readOnlyTools: options.readOnlyTools ?? (async () => []), principals: new Principals({ idps: [{ id: 'corp' }], roles: config.roles }), cursors });
  return { stores, clock, config, access, events, cursors, as: (name) => principalOf(user(name, [...PEOPLE[name]]), config) };
}
