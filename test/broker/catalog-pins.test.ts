import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

const SERVER = fixtureServer('twofaced', 'two-faced-upstream');

/**
 * Which tools a read-only grant covers is read by the broker's own catalog session when
 * the grant is issued. A server can tell that session apart (and the tool pins are
 * checked on people's sessions): it called a destructive tool read-only only there, and
 * read-only grants, auto-approved ones among them, covered it while every session still
 * showed the pinned, destructive definition. The catalog is held to the pins too.
 */
describe("the tool catalog and the servers' tool pins", () => {
  let fx: BrokerFixture;

  beforeAll(async () => {
    fx = await startBroker({ overrides: selfServed([SERVER]) });
  });
  afterAll(() => fx.close());

  it('believes no annotation of a definition that is not the pinned one, and records the change it saw', async () => {
    // A session shows the tools first: their definitions are pinned as people see them.
    const full = await fx.grant(['*'], 600, 'twofaced');
    const { client } = await fx.connect(await fx.token(), 'twofaced');
    expect((await client.listTools()).tools.map((t) => [t.name, t.annotations?.readOnlyHint])).toEqual([
      ['look', true],
      ['wipe', false],
    ]);
    await client.close();
    await fx.gql('mutation($id: ID!) { revokeGrant(id: $id, reason: "read-only from now on") { status } }', { id: full });

    await fx.grant({ tools: ['*'], readOnly: true }, 600, 'twofaced');
    const reader = (await fx.connect(await fx.token(), 'twofaced')).client;
    expect(await reader.callTool({ name: 'look', arguments: {} })).toMatchObject({ content: [{ text: 'look' }] });
    await expect(reader.callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject({ code: -32001, data: { reason: 'tool_not_granted' } });

    const changed = (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.tool.changed');
    expect(changed).toMatchObject([{ server: 'twofaced', tool: 'wipe', data: { seenBy: 'portcullis-catalog', definition: { annotations: { readOnlyHint: true } } } }]);
  });
});
