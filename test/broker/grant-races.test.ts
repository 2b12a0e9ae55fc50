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

/** Holds the first call it is armed for until the test releases it. */
class Gate {
  private armed: { matches: (key: string) => boolean; reached: (key: string) => void; released: Promise<void> } | null = null;

  hold(matches: (key: string) => boolean): { reached: Promise<string>; release: () => void } {
    let reached!: (key: string) => void;
    let release!: () => void;
    const held = new Promise<string>((r) => (reached = r));
    this.armed = { matches, reached, released: new Promise<void>((r) => (release = r)) };
    return { reached: held, release };
  }

  async pass(key: string): Promise<void> {
    const held = this.armed?.matches(key) ? this.armed : null;
    if (!held) return;
    this.armed = null;
    held.reached(key);
    await held.released;
  }
}

/** Embedded stores whose grant reads (after reading) and audit appends (before appending, keyed `type tool`) can be held. */
async function gatedStores(): Promise<{ stores: Stores; reads: Gate; appends: Gate }> {
  const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-grant-race-')), clock: systemClock });
  const reads = new Gate();
  const appends = new Gate();
  const getGrant = stores.access.getGrant.bind(stores.access);
  stores.access.getGrant = async (id) => {
    const grant = await getGrant(id);
    await reads.pass(id);
    return grant;
  };
  const append = stores.audit.append.bind(stores.audit);
  stores.audit.append = async (event) => {
    await appends.pass(`${event.type} ${event.tool ?? ''}`);
    return append(event);
  };
  return { stores, reads, appends };
}

const echo = (client: Client) => client.callTool({ name: 'echo', arguments: { message: 'still here?' } }).then(() => 'answered', (error: { data?: { reason?: string } }) => error.data?.reason ?? String(error));

describe('grants read while they are revoked', () => {
  let fx: BrokerFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('a session start re-reading its grants does not bring back one revoked during the read', async () => {
    const { stores, reads } = await gatedStores();
    fx = await startBroker({ stores });
    const revoked = await fx.grant(['echo']);
    await fx.grant(['get-sum']);
    const read = reads.hold((id) => id === revoked);
    const connecting = fx.connect(await fx.token());
    await read.reached;
    expect((await fx.gql(REVOKE, { id: revoked })).body.errors).toBeUndefined();
    read.release();
    const { client } = await connecting;
    expect(await echo(client)).toBe('tool_not_granted');
    expect(JSON.stringify((await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).content)).toContain('3');
    await client.close();
  });

  it('a live session does not take in an issued grant that was revoked while it was read', async () => {
    const { stores, reads } = await gatedStores();
    fx = await startBroker({ stores });
    const held = await fx.grant(['get-sum']);
    const { client } = await fx.connect(await fx.token());
    const read = reads.hold((id) => id !== held);
    // Not through fx.grant: its `grant { id }` would read the grant too, and wait at the gate.
    const filed = await fx.gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { status } }', { input: { server: 'everything', tools: ['echo'], reason: 'test', durationSeconds: 600 } });
    expect(filed.body.data).toEqual({ createAccessRequest: { status: 'APPROVED' } });
    const issued = await read.reached;
    expect((await fx.gql(REVOKE, { id: issued })).body.errors).toBeUndefined();
    read.release();
    // What the session does with the read happens as soon as it is back.
    await new Promise((r) => setTimeout(r, 50));
    expect(await echo(client)).toBe('tool_not_granted');
    await client.close();
  });

  it('a call allowed by a grant revoked while its audit record was written is refused, not sent, while another grant keeps the server', async () => {
    const { stores, appends } = await gatedStores();
    fx = await startBroker({ stores });
    const revoked = await fx.grant(['echo', 'get-sum']);
    await fx.grant(['get-sum']);
    const { client } = await fx.connect(await fx.token());
    await client.listTools();
    const append = appends.hold((key) => key === 'mcp.request echo');
    const calling = echo(client);
    await append.reached;
    expect((await fx.gql(REVOKE, { id: revoked })).body.errors).toBeUndefined();
    append.release();
    expect(await calling).toBe('grant_revoked');
    const records = async () => (await stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.request' && e.tool === 'echo').map((e) => [e.outcome, e.data.grantId, e.data.reason]);
    // The refusal is recorded as the reply goes: best effort, as every refusal's record.
    await expect.poll(records).toEqual([
      ['SUCCESS', revoked, undefined],
      ['DENIED', revoked, 'grant_revoked'],
    ]);
    // The server stays for the grant that is left.
    expect(JSON.stringify((await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).content)).toContain('3');
    await client.close();
  });

  it('a call running when the grant that allowed it is revoked is cut off, while another grant keeps the server', async () => {
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-grant-race-')), clock: systemClock });
    fx = await startBroker({ stores });
    const revoked = await fx.grant(['trigger-long-running-operation', 'get-sum']);
    await fx.grant(['get-sum']);
    const { client } = await fx.connect(await fx.token());
    let running!: () => void;
    const progressed = new Promise<void>((r) => (running = r));
    const calling = client
      .callTool({ name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 30 } }, undefined, { onprogress: () => running(), timeout: 60_000 })
      .then(() => 'answered', (error: { data?: { reason?: string } }) => error.data?.reason ?? String(error));
    // The server reports progress: the call is running there.
    await progressed;
    expect((await fx.gql(REVOKE, { id: revoked })).body.errors).toBeUndefined();
    // Answered that access ended, not 30 s later with what the server found.
    expect(await calling).toBe('grant_revoked');
    const records = async () => (await stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'mcp.request' && e.tool === 'trigger-long-running-operation').map((e) => [e.outcome, e.data.grantId, e.data.reason, e.data.inFlight]);
    await expect.poll(records).toEqual([
      ['SUCCESS', revoked, undefined, undefined],
      ['DENIED', revoked, 'grant_revoked', true],
    ]);
    expect(JSON.stringify((await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).content)).toContain('3');
    await client.close();
  });
});
