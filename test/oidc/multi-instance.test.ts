import { afterAll, beforeAll, expect, it } from 'vitest';
import { cookiePair, startTestOp, throughProvider, visitCallback } from '../support/oidc-op.js';
import type { TestOp } from '../support/oidc-op.js';
import { describeWithRedis } from '../support/redis.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { postGraphQL, startInstancesOnRedis, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

describeWithRedis('OIDC sign-in across instances sharing Redis', () => {
  let a: TestServer;
  let b: TestServer;
  let corp: TestOp;

  beforeAll(async () => {
    corp = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true } });
    [a, b] = (await startInstancesOnRedis(testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [corp.config()] }))) as [TestServer, TestServer];
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await corp.close();
  });

  it('finishes on instance B a sign-in begun on instance A, and the session works on both', async () => {
    const trip = await throughProvider(a.url, 'corp');
    const callback = await visitCallback(b.url, trip.callbackUrl, trip.binding);
    expect(callback.status).toBe(303);
    const session = cookiePair(callback, 'portcullis_session')!;
    for (const server of [a, b]) {
      const me = await postGraphQL(server.url, { query: '{ me { id email } }' }, { cookie: session });
      expect(me.body).toEqual({ data: { me: { id: 'corp:alice', email: 'alice@example.com' } } });
    }
  });

  it('refuses on instance A a callback already used on instance B', async () => {
    const trip = await throughProvider(a.url, 'corp');
    expect((await visitCallback(b.url, trip.callbackUrl, trip.binding)).status).toBe(303);
    const replay = await visitCallback(a.url, trip.callbackUrl, trip.binding);
    expect(replay.status).toBe(401);
    expect(cookiePair(replay, 'portcullis_session')).toBeNull();
  });
});
