import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, fixtureServer, startBroker } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import type { TestServer } from '../support/test-server.js';

/**
 * Issue 15, item 6 (its broker half): a grant issued while a person's session runs reaches
 * that session at once, on this instance or another: the server allows more, or (federated)
 * joins the session, and the client hears tools/list_changed instead of reconnecting.
 */

const EDGE = fixtureServer('edge', 'edge-upstream');
const EVERYTHING = { name: 'everything', transport: 'stdio', command: process.execPath, args: ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'] };
const OVERRIDES = {
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [
        { server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 3600, autoApprove: true },
        { server: 'edge', tools: ['say', 'hold', 'holds-cancelled'], maxDurationSeconds: 3600, autoApprove: true },
      ],
    },
  ],
  servers: [EVERYTHING, EDGE],
};

const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "done") { status } }';
const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();

/** Counts the tools/list_changed notifications a client receives. */
function listChanges(client: Client): () => number {
  let count = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void count++);
  return () => count;
}

describe('grants that arrive during a session', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES });
    token = await fx.token();
  });
  afterAll(() => fx.close());

  // Sessions start on the edge fixture, which never announces list changes itself: every one counted is the broker's.
  it('a federated session takes in a server whose grant is approved meanwhile, and lets it go again when that grant is revoked', async () => {
    await fx.grant(['say'], 600, 'edge');
    const { client, transport } = await fx.connect(token, '');
    const changes = listChanges(client);
    expect(await names(client)).toEqual(['edge__say']);

    const joined = await fx.grant(['echo'], 600, 'everything');
    await expect.poll(changes).toBeGreaterThan(0);
    await expect.poll(() => names(client)).toEqual(['edge__say', 'everything__echo']);
    expect(JSON.stringify((await client.callTool({ name: 'everything__echo', arguments: { message: 'joined' } })).content)).toContain('joined');
    await expect(client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });

    const added = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.session.grant_added');
    expect(added.at(-1)).toMatchObject({ actor: 'alice@example.com', server: 'everything', data: { grantId: joined } });

    const before = changes();
    await fx.gql(REVOKE, { id: joined });
    await expect.poll(changes).toBeGreaterThan(before);
    expect(await names(client)).toEqual(['edge__say']);
    expect(transport.closeInfo).toBeUndefined();
    await client.close();
  });

  it('a single-server session allows the tools of a second grant on its server at once', async () => {
    const bob = await fx.signInAs('bob@example.com');
    await bob.grant(['say'], 600, 'edge');
    const { client } = await fx.connect(await bob.token(), 'edge');
    const changes = listChanges(client);
    expect(await names(client)).toEqual(['say']);
    await expect(client.callTool({ name: 'holds-cancelled', arguments: {} })).rejects.toMatchObject({ data: { reason: 'tool_not_granted' } });

    await bob.grant(['holds-cancelled'], 600, 'edge');
    await expect.poll(changes).toBeGreaterThan(0);
    expect(await names(client)).toEqual(['holds-cancelled', 'say']);
    expect(JSON.stringify((await client.callTool({ name: 'holds-cancelled', arguments: {} })).content)).toContain('0');
    await client.close();
  });

  it("leaves other people's sessions alone", async () => {
    const carol = await fx.signInAs('carol@example.com');
    await carol.grant(['say'], 600, 'edge');
    const { client } = await fx.connect(await carol.token(), '');
    const changes = listChanges(client);
    const dave = await fx.signInAs('dave@example.com');
    await dave.grant(['hold'], 600, 'edge');
    await dave.grant(['echo'], 600, 'everything');
    // Dave's grants are announced before his requests answer; a moment more for a broker that would wrongly act on them.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(changes()).toBe(0);
    expect(await names(client)).toEqual(['edge__say']);
    await client.close();
  });
});

describe('upstream processes of servers that leave a live session', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker({ overrides: { ...OVERRIDES, broker: { maxUpstreamProcesses: 2 } } });
  });
  afterAll(() => fx.close());

  it('are given back to the instance at once, not when the session ends', async () => {
    await fx.grant(['say'], 600, 'edge');
    const joined = await fx.grant(['echo'], 600, 'everything');
    const { client } = await fx.connect(await fx.token(), '');
    expect(await names(client)).toEqual(['edge__say', 'everything__echo']);
    // Two processes: the instance is full.
    const bob = await fx.signInAs('bob@example.com');
    await bob.grant(['echo'], 600, 'everything');
    const bobToken = await bob.token();
    await expect(fx.connect(bobToken)).rejects.toThrow(/503/);
    await fx.gql(REVOKE, { id: joined });
    await expect.poll(() => names(client)).toEqual(['edge__say']);
    const { client: bobs } = await fx.connect(bobToken);
    expect(await names(bobs)).toEqual(['echo']);
    await Promise.all([client.close(), bobs.close()]);
  });
});

describeWithRedis('a grant issued on one instance reaches a session on another', () => {
  let a: BrokerFixture;
  let b: TestServer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await startBrokerPair(OVERRIDES));
  });
  afterAll(() => close());

  it('joins the server on B when the grant is issued through A', async () => {
    await a.grant(['say'], 600, 'edge');
    const { client } = await connectClient(`${b.wsUrl}/mcp/ws`, await a.token());
    const changes = listChanges(client);
    await a.grant(['echo'], 600, 'everything');
    await expect.poll(changes).toBeGreaterThan(0);
    await expect.poll(() => names(client)).toEqual(['edge__say', 'everything__echo']);
    await client.close();
  });
});
