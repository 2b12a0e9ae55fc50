import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { ManualClock } from '../support/manual-clock.js';
import { createTestIdp, postToAcs, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

describe('pending sign-ins at capacity (embedded store)', () => {
  let server: TestServer;
  let corp: TestIdp;
  beforeAll(async () => {
    corp = await createTestIdp('corp');
    const config = configTrusting([corp]);
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: config.store.dataDir, clock, oneTimeValueCapacity: 2 });
    server = await startTestServer({ config, stores, clock });
  });
  afterAll(() => server.close());

  it('refuses a new sign-in start (503) instead of evicting one under way, which still completes', async () => {
    const first = await startLogin(server.url, 'corp');
    await startLogin(server.url, 'corp');
    const refused = await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('location')).toBeNull();
    expect(await refused.text()).toBe('Too many sign-ins in progress: try again shortly.');
    expect(server.logs.join('')).toMatch(/sign-in start refused: the store holds its capacity of pending sign-ins/);

    const completed = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: first.requestId }));
    expect(completed.status).toBe(303);
    expect((await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' })).status).toBe(302);
  });
});
