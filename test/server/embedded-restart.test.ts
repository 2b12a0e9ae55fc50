import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import { systemClock } from '../../server/clock.js';
import { hashSecret } from '../../server/identity/credentials.js';
import { STATE_FILE_NAME } from '../../server/stores/embedded/state-file.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { createTestIdp, postToAcs, signIn, startLogin } from '../support/test-idp.js';
import { createApiToken, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = { attributes: { email: 'alice@example.com', groups: ['engineering'] } };

describe('a broker on the embedded store, stopped and started again on the same dataDir', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('keeps what its users made: the sign-in, the token, the requests and the grant, all usable; a sign-in begun before finishes after', async () => {
    const idp = await createTestIdp('corp');
    const config = brokerConfig(idp);
    const restart = async () => {
      await server?.close();
      server = await startTestServer({ config, clock: systemClock });
      return server;
    };
    let broker = await restart();
    const cookie = await signIn(broker.url, idp, ALICE);
    const gql = (query: string, headers: Record<string, string> = { cookie }) => postGraphQL(broker.url, { query }, headers);
    const token = await createApiToken(broker.url, cookie, ['api', 'mcp']);
    const request = (tools: string) => gql(`mutation { createAccessRequest(input: { server: "everything", tools: ["${tools}"], reason: "restart", durationSeconds: 600 }) { id status grant { id } } }`);
    const granted = ((await request('echo')).body.data as { createAccessRequest: { id: string; grant: { id: string } } }).createAccessRequest;
    const pending = ((await request('*')).body.data as { createAccessRequest: { id: string; status: string } }).createAccessRequest;
    expect(pending.status).toBe('PENDING');
    const begun = await startLogin(broker.url, idp.id);

    broker = await restart();

    expect((await gql('{ me { email } }')).body.data).toEqual({ me: { email: 'alice@example.com' } });
    expect((await gql('{ me { email } }', { authorization: `Bearer ${token}` })).body.data).toEqual({ me: { email: 'alice@example.com' } });
    expect((await gql('{ grants(active: true) { items { id status } } }')).body.data).toEqual({ grants: { items: [{ id: granted.grant.id, status: 'ACTIVE' }] } });
    const requests = (await gql('{ accessRequests(mine: true) { items { id status } } }')).body.data as { accessRequests: { items: { id: string; status: string }[] } };
    expect(requests.accessRequests.items).toEqual(
      expect.arrayContaining([
        { id: granted.id, status: 'APPROVED' },
        { id: pending.id, status: 'PENDING' },
      ]),
    );
    const client = new Client({ name: 'restart-test', version: '1.0.0' });
    await client.connect(new BrokerWebSocketTransport(`${broker.wsUrl}/mcp/ws/everything`, { authorization: `Bearer ${token}` }));
    expect(await client.callTool({ name: 'echo', arguments: { message: 'still here' } })).toMatchObject({ content: [{ type: 'text', text: 'Echo: still here' }] });
    await client.close();

    const response = idp.signedResponse({ inResponseTo: begun.requestId, ...ALICE });
    expect((await postToAcs(broker.url, idp.id, response)).status).toBe(303);
    broker = await restart();
    expect((await postToAcs(broker.url, idp.id, response)).status).not.toBe(303);

    // What is on disk lets nobody sign in: it holds the hashes of the secrets, never the secrets.
    const state = readFileSync(join(config.store.dataDir, STATE_FILE_NAME), 'utf8');
    for (const credential of [token, cookie.slice(cookie.indexOf('=') + 1)]) {
      const secret = credential.slice(credential.lastIndexOf('_') + 1);
      expect(state).toContain(hashSecret(secret));
      expect(state).not.toContain(secret);
    }
  }, 60_000);
});
