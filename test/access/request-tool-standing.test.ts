import { afterEach, expect, it } from 'vitest';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { GROUP_ROLES, oktaUser, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';

/**
 * The broker tool (portcullis__request_access) files as the user stands now: an MCP session
 * outlives a group the IdP took away since it opened, and the roles it was admitted under
 * must not file, let alone auto-approve, what no role of theirs allows any more.
 */

const fixtures: BrokerFixture[] = [];
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((f) => f.close()));
});

const roles = GROUP_ROLES;
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

it('refuses, from a session opened before the IdP took the role away, what only that role allowed', async () => {
  const fx = await startBroker({ overrides: { roles, broker: { requestAccessTool: { enabled: true, autoApprove: true } } }, scimToken: SCIM_TOKEN });
  fixtures.push(fx);
  const userId = (await scim(fx.server.url, 'POST', '/Users', { body: oktaUser('alice@example.com') })).body.id as string;
  const group = async (displayName: string) => (await scim(fx.server.url, 'POST', '/Groups', { body: { schemas: [GROUP], displayName, members: [{ value: userId }] } })).body.id as string;
  const engineering = await group('engineering');
  await group('readers');
  await fx.grant(['echo']);
  const { client } = await fx.connectHttp(await fx.token(['mcp']), '');
  const ask = (tools: string[]) => client.callTool({ name: 'portcullis__request_access', arguments: { server: 'everything', tools, duration: '30m', reason: 'incident 42' } });
  try {
    expect((await scim(fx.server.url, 'PATCH', `/Groups/${engineering}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }] } })).status).toBe(200);

    const refused = await ask(['get-sum']);
    expect(refused).toMatchObject({ isError: true, content: [{ type: 'text', text: expect.stringMatching(/^Refused \(TOOL_NOT_REQUESTABLE\)/) }] });
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('everything__get-sum');
    // What the role left still allows is filed (and approved) as before.
    expect(await ask(['echo'])).toMatchObject({ content: [{ type: 'text', text: expect.stringMatching(/was approved/) }] });
  } finally {
    await client.close();
  }
});
