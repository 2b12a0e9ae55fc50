import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInWithOp, startTestOp } from '../support/oidc-op.js';
import type { TestOp } from '../support/oidc-op.js';
import { oktaUser, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** SCIM is the IdP's, not SAML's: an OIDC IdP's SCIM client deprovisions its users alike. */
describe('SCIM deprovisioning of an OIDC IdP\'s user', () => {
  let server: TestServer;
  let op: TestOp;

  beforeAll(async () => {
    op = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['engineering'] } });
    server = await startTestServer({
      config: testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [{ ...op.config({ emailDomains: ['example.com'] }), scim: { token: SCIM_TOKEN } }],
      }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await op?.close();
  });

  it('a deactivated user loses the session they signed in with and is refused at the next sign-in (user_deprovisioned); reactivated, they sign in again', async () => {
    const created = await scim(server.url, 'POST', '/Users', { body: oktaUser('alice@example.com') });
    expect(created.status).toBe(201);
    const before = await signInWithOp(server.url, 'corp');
    expect(before.callback.status).toBe(303);
    const me = () => postGraphQL(server.url, { query: '{ me { email } }' }, { cookie: before.session! });
    expect((await me()).body).toEqual({ data: { me: { email: 'alice@example.com' } } });

    const deactivate = await scim(server.url, 'PATCH', `/Users/${String(created.body.id)}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] } });
    expect(deactivate.status).toBe(200);
    expect((await me()).body).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });

    const refused = await signInWithOp(server.url, 'corp');
    expect(refused.callback.status).toBe(401);
    expect(refused.session).toBeNull();
    const logins = (await server.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'auth.login');
    expect(logins.at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'user_deprovisioned' } });

    const reactivate = await scim(server.url, 'PATCH', `/Users/${String(created.body.id)}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] } });
    expect(reactivate.status).toBe(200);
    expect((await signInWithOp(server.url, 'corp')).callback.status).toBe(303);
  });
});
