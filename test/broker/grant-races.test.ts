import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';

/**
 * A grant's state is read from the store while a session runs (at its start, at every
 * revalidation, when a grant is issued). A revocation that goes by while such a read is
 * in flight must win over what the read returns: its event does not come again.
 */

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "raced") { status } }';

/** Embedded stores whose next read of a chosen grant returns what it read only when the test lets it. */
async function gatedStores(): Promise<{ stores: Stores; hold: (matches: (id: string) => boolean) => { reading: Promise<string>; release: () => void } }> {
  const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-grant-race-')), clock: systemClock });
  const getGrant = stores.access.getGrant.bind(stores.access);
  let gate: { matches: (id: string) => boolean; read: (id: string) => void; released: Promise<void> } | null = null;
  stores.access.getGrant = async (id) => {
    const grant = await getGrant(id);
    const held = gate?.matches(id) ? gate : null;
    if (held) {
      gate = null;
      held.read(id);
      await held.released;
    }
    return grant;
  };
  return {
    stores,
    hold: (matches) => {
      let read!: (id: string) => void;
      let release!: () => void;
      const reading = new Promise<string>((r) => (read = r));
      const released = new Promise<void>((r) => (release = r));
      gate = { matches, read, released };
      return { reading, release };
    },
  };
}

const echo = (client: Client) => client.callTool({ name: 'echo', arguments: { message: 'still here?' } }).then(() => 'answered', (error: { data?: { reason?: string } }) => error.data?.reason ?? String(error));

describe('grants read while they are revoked', () => {
  let fx: BrokerFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('a session start re-reading its grants does not bring back one revoked during the read', async () => {
    const { stores, hold } = await gatedStores();
    fx = await startBroker({ stores });
    const revoked = await fx.grant(['echo']);
    await fx.grant(['get-sum']);
    const read = hold((id) => id === revoked);
    const connecting = fx.connect(await fx.token());
    await read.reading;
    expect((await fx.gql(REVOKE, { id: revoked })).body.errors).toBeUndefined();
    read.release();
    const { client } = await connecting;
    expect(await echo(client)).toBe('tool_not_granted');
    expect(JSON.stringify((await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).content)).toContain('3');
    await client.close();
  });

  it('a live session does not take in an issued grant that was revoked while it was read', async () => {
    const { stores, hold } = await gatedStores();
    fx = await startBroker({ stores });
    const held = await fx.grant(['get-sum']);
    const { client } = await fx.connect(await fx.token());
    const read = hold((id) => id !== held);
    // Not through fx.grant: its `grant { id }` would read the grant too, and wait at the gate.
    const filed = await fx.gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { status } }', { input: { server: 'everything', tools: ['echo'], reason: 'test', durationSeconds: 600 } });
    expect(filed.body.data).toEqual({ createAccessRequest: { status: 'APPROVED' } });
    const issued = await read.reading;
    expect((await fx.gql(REVOKE, { id: issued })).body.errors).toBeUndefined();
    read.release();
    // What the session does with the read happens as soon as it is back.
    await new Promise((r) => setTimeout(r, 50));
    expect(await echo(client)).toBe('tool_not_granted');
    await client.close();
  });
});
