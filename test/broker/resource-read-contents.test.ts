import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';

/**
 * A read answers with what the grants allow entry by entry: a resource read as a
 * directory (test/fixtures/asking-upstream.ts, `file:///dir`) answers with an entry per
 * file under its own URI, and one the grant denies is left out, on a server's own endpoint
 * as on the federated one (decided in the server's names there too).
 */

const SERVER = fixtureServer('files', 'asking-upstream');

describe('resources/read', () => {
  let fx: BrokerFixture;
  let token: string;

  beforeAll(async () => {
    fx = await startBroker({
      overrides: {
        roles: [
          {
            name: 'engineer',
            members: { groups: ['engineering'] },
            request: [{ server: 'files', tools: ['*'], resources: ['file:///dir*'], denyResources: ['file:///dir/secret*'], maxDurationSeconds: 600, autoApprove: true }],
          },
        ],
        servers: [SERVER],
      },
    });
    token = await fx.token();
    await fx.grant({ tools: ['ask'] }, 600, 'files');
  });
  afterAll(() => fx.close());

  for (const [endpoint, path, prefix] of [
    ["the server's own endpoint", 'files', ''],
    ['the federated endpoint', '', 'portcullis://files/'],
  ] as const) {
    it(`leaves out the entries whose URI the grant denies, on ${endpoint}`, async () => {
      const { client } = await fx.connect(token, path);
      const { contents } = await client.readResource({ uri: `${prefix}file:///dir` });
      expect(contents.map((c) => c.uri)).toEqual([`${prefix}file:///dir`, `${prefix}file:///dir/open.txt`]);
      expect(JSON.stringify(contents)).not.toContain('the content of file:///dir/secret.txt');
      await expect(client.readResource({ uri: `${prefix}file:///dir/secret.txt` })).rejects.toMatchObject({ data: { reason: 'resource_not_granted' } });
      await client.close();
    });
  }
});
