import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { startReferenceHttpServer } from '../support/reference-http-server.js';

describe('broker with a Streamable HTTP upstream', () => {
  let upstream: { url: string; child: ChildProcess };
  let fx: BrokerFixture;
  beforeAll(async () => {
    upstream = await startReferenceHttpServer();
    fx = await startBroker({
      overrides: {
        servers: [{ name: 'everything', transport: 'streamable-http', url: upstream.url, headers: { Authorization: 'Bearer upstream-http-secret-77' } }],
      },
    });
    await fx.grant(['echo', 'get-sum']);
  });
  afterAll(async () => {
    await fx.close();
    upstream.child.kill();
  });

  it('relays initialize, a filtered tools/list and a granted call; refuses the rest', async () => {
    const { client } = await fx.connect(await fx.token());
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum']);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 40, b: 2 } });
    expect(JSON.stringify(sum.content)).toContain('42');
    await expect(client.callTool({ name: 'get-env', arguments: {} })).rejects.toMatchObject({ code: -32001 });
    await client.close();
    expect(JSON.stringify(await fx.server.stores.audit.read({ limit: 1000 }))).not.toContain('upstream-http-secret-77');
  });
});
