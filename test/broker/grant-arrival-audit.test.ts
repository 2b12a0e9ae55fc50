import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';

/**
 * A server joins a live federated session (a grant issued meanwhile) only once the
 * session's `mcp.session.grant_added` is recorded: it hears nothing of the session before,
 * and nothing at all when the record cannot be written (it joins at a later grant change).
 */

const dir = mkdtempSync(join(tmpdir(), 'portcullis-join-'));
const heard = join(dir, 'late-heard');
const SERVERS = [
  fixtureServer('edge', 'edge-upstream'),
  // Writes the method of each request it gets to `heard`, as it gets it.
  { ...fixtureServer('late', 'asking-upstream'), env: { PORTCULLIS_TEST_RECORD: heard } },
];
const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).filter((name) => name === 'edge__say' || name.startsWith('late__'));
const heardMethods = () => (existsSync(heard) ? readFileSync(heard, 'utf8').split('\n').filter(Boolean) : []);

/** Holds `grant_added` appends until the test settles them: as written, or as failed. */
function holdGrantAdded(stores: Stores) {
  const append = stores.audit.append.bind(stores.audit);
  const held: { event: AuditEventInput; settle(fail: boolean): void }[] = [];
  stores.audit.append = (event) => {
    if (event.type !== 'mcp.session.grant_added') return append(event);
    return new Promise((resolve, reject) => held.push({ event, settle: (fail) => (fail ? reject(new Error('audit log unwritable')) : resolve(append(event))) }));
  };
  return held;
}

describe('a server joining a live session', () => {
  let fx: BrokerFixture;
  let stores: Stores;
  let held: ReturnType<typeof holdGrantAdded>;

  beforeAll(async () => {
    stores = await createEmbeddedStores({ dataDir: join(dir, 'store'), clock: systemClock });
    fx = await startBroker({
      stores,
      overrides: {
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: ['edge', 'late'].map((server) => ({ server, tools: ['*'], maxDurationSeconds: 600, autoApprove: true })) }],
        servers: SERVERS,
      },
    });
    held = holdGrantAdded(stores);
  });
  afterAll(() => fx.close());

  it('stays out while its grant_added cannot be written, and hears nothing', async () => {
    const bob = await fx.signInAs('bob@example.com');
    await bob.grant(['say'], 600, 'edge');
    const { client } = await fx.connect(await bob.token(), '');
    expect(await names(client)).toEqual(['edge__say']);

    await bob.grant(['*'], 600, 'late');
    await expect.poll(() => held.length).toBe(1);
    held.shift()!.settle(true);
    // A moment for a broker that would start the server all the same.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(heardMethods()).toEqual([]);
    expect(await names(client)).toEqual(['edge__say']);
    await client.close();
  });

  it('is initialized only after its grant_added is recorded', async () => {
    await fx.grant(['say'], 600, 'edge');
    const { client } = await fx.connect(await fx.token(), '');
    expect(await names(client)).toEqual(['edge__say']);

    const joined = await fx.grant(['*'], 600, 'late');
    await expect.poll(() => held.length).toBe(1);
    const added = held.shift()!;
    expect(added.event).toMatchObject({ server: 'late', data: { grantId: joined } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(heardMethods()).toEqual([]);

    added.settle(false);
    await expect.poll(heardMethods).toContain('initialize');
    await expect.poll(() => names(client)).toContain('late__ask');
    const recorded = (await stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.session.grant_added');
    expect(recorded.map((e) => e.data.grantId)).toEqual([joined]);
    await client.close();
  });

  it('stays out when its grant is revoked while grant_added is written (the revocation went by before the session held it)', async () => {
    const carol = await fx.signInAs('carol@example.com');
    await carol.grant(['say'], 600, 'edge');
    const { client } = await fx.connect(await carol.token(), '');
    expect(await names(client)).toEqual(['edge__say']);
    const initializes = () => heardMethods().filter((method) => method === 'initialize').length;
    const before = initializes();

    const revoked = await carol.grant(['*'], 600, 'late');
    await expect.poll(() => held.length).toBe(1);
    expect((await carol.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }', { id: revoked })).body.errors).toBeUndefined();
    held.shift()!.settle(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(initializes()).toBe(before);
    expect(await names(client)).toEqual(['edge__say']);
    await client.close();
  });
});
