import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { ManualClock } from '../support/manual-clock.js';
import { startTestOp, throughProvider, visitCallback } from '../support/oidc-op.js';
import type { TestOp } from '../support/oidc-op.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

describe('pending OIDC sign-ins: at capacity, and expired (embedded store)', () => {
  let server: TestServer;
  let corp: TestOp;
  const clock = new ManualClock();
  beforeAll(async () => {
    corp = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true } });
    const config = testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [corp.config()] });
    const stores = await createEmbeddedStores({ dataDir: config.store.dataDir, clock, oneTimeValueCapacity: 2 });
    server = await startTestServer({ config, stores, clock });
  });
  afterAll(async () => {
    await server.close();
    await corp.close();
  });

  it('refuses a new sign-in start (503, no cookie) instead of evicting one under way, which still completes', async () => {
    const first = await throughProvider(server.url, 'corp');
    const second = await throughProvider(server.url, 'corp');
    const refused = await fetch(`${server.url}/auth/oidc/corp/login`, { redirect: 'manual' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('location')).toBeNull();
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect(await refused.text()).toBe('Too many sign-ins in progress: try again shortly.');
    expect((await visitCallback(server.url, first.callbackUrl, first.binding)).status).toBe(303);
    expect((await visitCallback(server.url, second.callbackUrl, second.binding)).status).toBe(303);
  });

  it('forgets a sign-in left at the provider for more than 10 minutes (state_unknown)', async () => {
    const trip = await throughProvider(server.url, 'corp');
    clock.advance(10 * 60_000 + 1);
    expect((await visitCallback(server.url, trip.callbackUrl, trip.binding)).status).toBe(401);
    expect((await server.stores.audit.read({ limit: 10_000 })).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'state_unknown' } });
  });
});
