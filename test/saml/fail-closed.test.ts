import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { createTestIdp, postToAcs, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { idpLogoutUrl, logoutRequestXml, redirectQuery } from '../support/test-idp-logout.js';

describeWithRedis('SAML sign-in and Single Logout when the store is down', () => {
  let redis: RedisServerHandle;
  let server: TestServer;
  let corp: TestIdp;
  beforeAll(async () => {
    redis = await startRedisServer();
    corp = await createTestIdp('corp');
    corp.config.singleLogoutUrl = idpLogoutUrl(corp);
    const sp = await selfSignedCertificate('portcullis-sp');
    const stores = await redisStoresForTest({ url: redis.url, fast: true });
    server = await startTestServer({ stores, config: configTrusting([corp], { saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } } }) });
  });
  afterAll(async () => {
    await server.close();
    await redis.stop();
  });

  it('refuses to start a login (503, no redirect to the IdP)', async () => {
    await redis.kill();
    const res = await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' });
    expect(res.status).toBe(503);
    expect(res.headers.get('location')).toBeNull();
    await redis.restart();
    await server.stores.waitReady();
  });

  it('refuses to finish a login begun before the store went down: 503 and no cookie', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    await redis.kill();
    const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }));
    expect(result.status).toBe(503);
    expect(result.setCookie).toBeNull();
    await redis.restart();
    await server.stores.waitReady();
  });

  it('answers an IdP LogoutRequest with 503, never with a Success LogoutResponse it could not make true', async () => {
    await redis.kill();
    const res = await fetch(`${server.url}/auth/saml/corp/slo?${redirectQuery(logoutRequestXml(corp), corp.key)}`, { redirect: 'manual' });
    expect(res.status).toBe(503);
    expect(res.headers.get('location')).toBeNull();
    await redis.restart();
    await server.stores.waitReady();
  });
});
