import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../server/errors.js';
import type { TokenFamilyRecord } from '../../server/oauth/types.js';
import { waitReady } from '../../server/stores/redis/connection.js';
import type { ReplicaDurability } from '../../server/stores/redis/connection.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { alice, grantRecord, requestRecord } from './store-contract.js';

const DURABILITY: ReplicaDurability = { replicas: 1, timeoutMs: 300 };
const HOUR = 3_600_000;

/** A revocation: what it revokes, written first (never durably), then the revoking write. */
interface Revocation {
  what: string;
  write(stores: Stores, clock: ManualClock): Promise<unknown>;
  revoke(stores: Stores, clock: ManualClock): Promise<unknown>;
}

const family = (clock: ManualClock): TokenFamilyRecord => ({
  id: 'f1',
  clientId: 'pcc_f1',
  clientName: 'Client',
  resource: 'https://broker.example.com/mcp/a',
  scope: 'mcp',
  user: alice,
  accessTokens: [{ id: 'at1', expiresAt: clock.now() + 600_000 }],
  loginSessionId: 'ls1',
  createdAt: clock.now(),
  expiresAt: clock.now() + HOUR,
});

const approved = (clock: ManualClock) => requestRecord('r1', clock, { status: 'APPROVED', grantId: 'g1', decidedAt: clock.now() });

const REVOCATIONS: Revocation[] = [
  {
    what: 'a grant revoked (updateGrant)',
    write: (stores, clock) => stores.access.createRequest(approved(clock), grantRecord('g1', approved(clock), clock)),
    revoke: (stores, clock) => stores.access.updateGrant({ ...grantRecord('g1', approved(clock), clock), revokedAt: clock.now(), revokedBy: 'bob@example.com', revokeReason: 'incident', version: 2 }),
  },
  {
    what: 'a sign-in ended',
    write: (stores, clock) => stores.sessions.create({ id: 's1', secretHash: 'h', user: alice, createdAt: clock.now(), expiresAt: clock.now() + HOUR }),
    revoke: (stores) => stores.sessions.delete('s1'),
  },
  {
    what: 'an API token revoked',
    write: (stores, clock) => stores.tokens.create({ id: 't1', name: 'n', user: alice, scopes: ['mcp'], secretHash: 'h', createdAt: clock.now(), expiresAt: clock.now() + HOUR, origin: 'minted' }),
    revoke: (stores) => stores.tokens.delete('t1'),
  },
  {
    what: 'an OAuth authorization revoked (its family taken, its id marked revoked)',
    write: (stores, clock) => stores.oauth.families.put('f1', family(clock)),
    revoke: (stores, clock) => stores.oauth.families.take('f1', clock.now() + HOUR),
  },
  {
    what: 'an OAuth access token revoked',
    write: (stores, clock) => stores.oauth.accessTokens.put('at1', { id: 'at1', secretHash: 'h', familyId: 'f1', clientId: 'c', clientName: 'Client', user: alice, resource: 'https://broker.example.com/mcp/a', scope: 'mcp', issuedAt: clock.now(), expiresAt: clock.now() + 600_000, familyExpiresAt: clock.now() + HOUR }),
    revoke: (stores) => stores.oauth.accessTokens.take('at1'),
  },
];

describeWithRedis('revocations under durability (durability.replicas: 1): acknowledged by a replica, or refused', () => {
  let primary: RedisServerHandle;
  let replica: RedisServerHandle;
  let admin: Redis;
  const open: Stores[] = [];
  beforeAll(async () => {
    primary = await startRedisServer();
    replica = await startRedisServer((port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(primary.port)]);
    admin = new Redis(primary.url);
    await waitReady(admin, 5_000);
    // Synced once the replica acknowledges a write.
    while (Number(await admin.wait(1, 100)) < 1) await admin.set('sync', '1');
  });
  afterAll(async () => {
    admin.disconnect();
    await replica.stop();
    await primary.stop();
  });
  afterEach(async () => {
    await replica.resume();
    await Promise.all(open.splice(0).map((stores) => stores.close()));
  });

  const storesOnPrimary = async (durability?: ReplicaDurability) => {
    const stores = createRedisStores({ url: primary.url, keyPrefix: uniquePrefix(), clock: new ManualClock(), commandTimeoutMs: 1_000, connectTimeoutMs: 2_000, durability });
    open.push(stores);
    await stores.waitReady();
    return stores;
  };

  it.each(REVOCATIONS)('refuses $what (STORE_UNAVAILABLE) while no replica acknowledges it; without durability the primary\'s answer is enough', async ({ write, revoke }) => {
    const clock = new ManualClock();
    const [durable, plain] = [await storesOnPrimary(DURABILITY), await storesOnPrimary()];
    await replica.pause();
    for (const stores of [durable, plain]) await write(stores, clock);
    const refused = await revoke(durable, clock).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect((refused as Error).message).toMatch(/acknowledged by 0 of the 1 replicas required within 300 ms/);
    await expect(revoke(plain, clock)).resolves.toBeTruthy();
  });

  it('revokes durably once the replica acknowledges again', async () => {
    const clock = new ManualClock();
    const durable = await storesOnPrimary(DURABILITY);
    for (const { write, revoke } of REVOCATIONS) {
      await write(durable, clock);
      await expect(revoke(durable, clock)).resolves.toBeTruthy();
    }
  });
});
