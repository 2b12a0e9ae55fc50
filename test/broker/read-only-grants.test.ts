import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

/**
 * A read-only grant lists the tools that were read-only when it was issued (as the
 * broker's own catalog session read them). A tool whose definition says otherwise later
 * (a server that changed it, a change a reviewer accepted, or a server that shows the
 * catalog another face than people's sessions) must not stay covered: a read-only grant
 * covers a tool only while the definition its session is shown says read-only, whatever
 * the server's tool pinning mode. The upstream is test/fixtures/two-faced-upstream.ts,
 * whose `wipe` is read-only only to the catalog.
 */
const twoFaced = (name: string, extra: Record<string, unknown> = {}) => ({ ...fixtureServer(name, 'two-faced-upstream'), ...extra });
const SERVERS = [
  twoFaced('pinned'),
  twoFaced('warned', { toolPinning: 'warn' }),
  twoFaced('unpinned', { toolPinning: 'off' }),
  twoFaced('vouched', { toolPinning: 'off', readOnlyTools: ['wipe'] }),
  { ...fixtureServer('more', 'two-faced-upstream', '--more'), toolPinning: 'off' },
];
const SELF_SERVED = selfServed(SERVERS);
const ROLES = [...SELF_SERVED.roles, { name: 'lead', members: { groups: ['sre'] }, review: SERVERS.map((s) => ({ server: s.name, tools: ['*'] })) }];
const TOOL_CHANGES = `query($server: String) { toolChanges(server: $server) { tool changed { hash } } }`;
const ACCEPT = `mutation($server: String!, $tool: String!, $hash: String!) { acceptToolChange(server: $server, tool: $tool, hash: $hash) { tool } }`;
const notReadOnly = (tool: string) => ({ code: -32001, message: expect.stringContaining(`tool "${tool}" is not read-only, and your grant covers read-only tools only`), data: { reason: 'tool_not_granted', clause: 'not_read_only' } });
const NOT_READ_ONLY = notReadOnly('wipe');

const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();

describe('read-only grants and the definitions sessions are shown', () => {
  let fx: BrokerFixture;
  let lead: BrokerPerson;
  const clients: Client[] = [];
  const connect = async (server: string) => {
    const { client } = await fx.connect(await fx.token(), server);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    fx = await startBroker({ overrides: { roles: ROLES, servers: SERVERS, broker: { maxSessionsPerUser: 50 } } });
    lead = await fx.signInAs('lead@example.com', ['sre']);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await fx.close();
  });

  it('stop covering a tool once a reviewer accepts a definition of it that is not read-only', async () => {
    // The catalog reads the tools first (the grant is issued before any session listed them): its read-only face of
    // `wipe` is what the grant lists, and what is pinned.
    await fx.grant({ tools: ['*'], readOnly: true }, 600, 'pinned');
    const client = await connect('pinned');
    expect(await names(client)).toEqual(['look']);
    await expect(client.callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject(NOT_READ_ONLY);

    // Someone granted every tool is shown the destructive face, which is not the pin: hidden, and recorded for review.
    const carol = await fx.signInAs('carol@example.com');
    await carol.grant(['*'], 600, 'pinned');
    const { client: full } = await fx.connect(await carol.token(), 'pinned');
    clients.push(full);
    expect(await names(full)).toEqual(['look']);
    const changes = (await lead.gql(TOOL_CHANGES, { server: 'pinned' })).body.data as { toolChanges: { tool: string; changed: { hash: string } }[] };
    expect(changes.toolChanges.map((c) => c.tool)).toEqual(['wipe']);
    expect((await lead.gql(ACCEPT, { server: 'pinned', tool: 'wipe', hash: changes.toolChanges[0]!.changed.hash })).body.data).toEqual({ acceptToolChange: { tool: 'wipe' } });

    // The definition people are shown is the pin now, and it is destructive: shown to Carol, still not covered by the
    // read-only grant, listed or called.
    expect(await names(full)).toEqual(['look', 'wipe']);
    expect(await names(client)).toEqual(['look']);
    await expect(client.callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject(NOT_READ_ONLY);
    expect(await client.callTool({ name: 'look', arguments: {} })).toMatchObject({ content: [{ text: 'look' }] });
    // A session that calls without listing is judged on the listing the broker reads first.
    await expect((await connect('pinned')).callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject(NOT_READ_ONLY);

    const denied = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.request' && e.server === 'pinned' && e.outcome === 'DENIED' && e.tool === 'wipe');
    expect(denied.at(-1)).toMatchObject({ data: { reason: 'tool_not_granted', clause: 'not_read_only' } });
  });

  it.each(['warned', 'unpinned'])('on a server whose pins do not hide changes (%s), hide and refuse a tool listed as not read-only', async (server) => {
    await fx.grant({ tools: ['*'], readOnly: true }, 600, server);
    // Called before any listing: the broker lists first.
    await expect((await connect(server)).callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject(NOT_READ_ONLY);
    const client = await connect(server);
    expect(await names(client)).toEqual(['look']);
    await expect(client.callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject(NOT_READ_ONLY);
  });

  it('cover a tool the operator vouches is read-only, whatever its annotations say', async () => {
    await fx.grant({ tools: ['*'], readOnly: true }, 600, 'vouched');
    const client = await connect('vouched');
    expect(await names(client)).toEqual(['look', 'wipe']);
    expect(await client.callTool({ name: 'wipe', arguments: {} })).toMatchObject({ content: [{ text: 'wipe' }] });
  });

  it('do not cover a tool the server leaves out of the session\'s listing, nor one a listing gives both read-only and not', async () => {
    const person = await fx.signInAs('dave@example.com');
    await person.grant({ tools: ['*'], readOnly: true }, 600, 'more');
    const { client } = await fx.connect(await person.token(), 'more');
    clients.push(client);
    await expect(client.callTool({ name: 'sly', arguments: {} })).rejects.toMatchObject(notReadOnly('sly'));
    // Called before any listing: the broker reads both pages, the second of which calls it read-only.
    await expect(client.callTool({ name: 'twin', arguments: {} })).rejects.toMatchObject(notReadOnly('twin'));
    // Listed by a client that starts on the second page, which alone says read-only: shown there, but a call is
    // decided on the whole listing.
    const fresh = (await fx.connect(await person.token(), 'more')).client;
    clients.push(fresh);
    expect((await fresh.listTools({ cursor: 'twin' })).tools.map((t) => t.name)).toEqual(['twin']);
    await expect(fresh.callTool({ name: 'twin', arguments: {} })).rejects.toMatchObject(notReadOnly('twin'));
    // Listed by the client, page by page: hidden on both.
    const first = await client.listTools();
    expect(first.tools.map((t) => t.name)).toEqual(['look', 'nap']);
    expect((await client.listTools({ cursor: first.nextCursor })).tools).toEqual([]);
    await expect(client.callTool({ name: 'twin', arguments: {} })).rejects.toMatchObject(notReadOnly('twin'));
  });

  it('cut off a call a full grant let go once only a read-only grant is left, when the tool was never shown read-only', async () => {
    const person = await fx.signInAs('erin@example.com');
    const full = await person.grant(['*'], 600, 'more');
    const { client } = await fx.connect(await person.token(), 'more');
    clients.push(client);
    // Not listed: under the full grant nothing needs to know whether `wait` is read-only. It answers in 3 s.
    const waiting = client.callTool({ name: 'wait', arguments: {} });
    waiting.catch(() => {});
    await person.grant({ tools: ['*'], readOnly: true }, 600, 'more');
    expect((await person.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "read-only from now on") { status } }', { id: full })).body.data).toEqual({ revokeGrant: { status: 'REVOKED' } });
    await expect(waiting).rejects.toMatchObject({ code: -32001, message: expect.stringContaining('the grant that allowed this request ended while it ran'), data: { reason: 'grant_revoked' } });
    expect(await client.callTool({ name: 'look', arguments: {} })).toMatchObject({ content: [{ text: 'look' }] });
  });

  it('take over a call to a read-only tool when the full grant that let it go ends', async () => {
    const person = await fx.signInAs('frank@example.com');
    const full = await person.grant(['*'], 600, 'more');
    await person.grant({ tools: ['*'], readOnly: true }, 600, 'more');
    const { client } = await fx.connect(await person.token(), 'more');
    clients.push(client);
    // Never listed: the broker lists before the call, so the read-only grant can take it over. `nap` answers in 3 s.
    const napping = client.callTool({ name: 'nap', arguments: {} });
    await expect.poll(async () => (await fx.server.stores.audit.read({ limit: 10_000 })).some((e) => e.type === 'mcp.request' && e.tool === 'nap' && e.actor === 'frank@example.com')).toBe(true);
    await person.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "read-only from now on") { status } }', { id: full });
    expect(await napping).toMatchObject({ content: [{ text: 'nap' }] });
  });

  it('leave grants that are not read-only as they were', async () => {
    await fx.grant(['*'], 600, 'unpinned');
    const client = await connect('unpinned');
    expect(await names(client)).toEqual(['look', 'wipe']);
    expect(await client.callTool({ name: 'wipe', arguments: {} })).toMatchObject({ content: [{ text: 'wipe' }] });
  });
});
