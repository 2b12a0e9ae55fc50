import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis } from '../support/redis.js';
import { postGraphQL, startInstancesOnRedis } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, postToAcs, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

describeWithRedis('SAML sign-in across instances sharing Redis', () => {
  let a: TestServer;
  let b: TestServer;
  let corp: TestIdp;

  beforeAll(async () => {
    corp = await createTestIdp('corp');
    [a, b] = (await startInstancesOnRedis(configTrusting([corp]))) as [TestServer, TestServer];
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('finishes on instance B a login begun on instance A, and the session works on both', async () => {
    const { requestId } = await startLogin(a.url, 'corp');
    const result = await postToAcs(b.url, 'corp', corp.signedResponse({ inResponseTo: requestId }));
    expect(result.status).toBe(303);
    for (const server of [a, b]) {
      const me = await postGraphQL(server.url, { query: '{ me { email } }' }, { cookie: result.cookie! });
      expect(me.body).toEqual({ data: { me: { email: 'alice@example.com' } } });
    }
  });

  it('refuses on instance A an assertion already consumed on instance B', async () => {
    const { requestId } = await startLogin(a.url, 'corp');
    const xml = corp.signedResponse({ inResponseTo: requestId });
    expect((await postToAcs(b.url, 'corp', xml)).status).toBe(303);
    const replay = await postToAcs(a.url, 'corp', xml);
    expect(replay.status).toBe(401);
    expect(replay.setCookie).toBeNull();
  });
});
