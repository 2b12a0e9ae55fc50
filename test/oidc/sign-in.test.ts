import { calculatePKCECodeChallenge } from 'openid-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { describeOnEachStore } from '../support/each-store.js';
import { signInWithOp, startTestOp, throughProvider, visitCallback } from '../support/oidc-op.js';
import type { TestOp } from '../support/oidc-op.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { postGraphQL, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

describeOnEachStore('OIDC sign-in end to end', (start) => {
  let server: TestServer;
  let corp: TestOp;
  let partner: TestOp;

  beforeAll(async () => {
    corp = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['engineering', 'sre'] } });
    partner = await startTestOp('partner', { bob: { email: 'bob@partner.example', email_verified: true, name: 'Bob Partner' } });
    server = await start(
      testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [corp.config({ emailDomains: ['example.com'] }), partner.config({ emailDomains: ['partner.example'] })],
        roles: [
          { name: 'engineer', members: { groups: ['engineering'], idps: ['corp'] } },
          { name: 'auditor', members: { emails: ['bob@partner.example'], idps: ['partner'] }, audit: true },
        ],
      }),
    );
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([corp.close(), partner.close()]);
  });

  const loginEvents = async () => (await server.stores.audit.read({ limit: 10_000 })).filter((e: AuditEvent) => e.type === 'auth.login');

  it('signs in: provider → callback → session cookie → returnTo; the groups claim gives roles; audited with the subject and protocol', async () => {
    const result = await signInWithOp(server.url, 'corp', '/requests?mine=1');
    expect(result.callback.status).toBe(303);
    expect(result.callback.headers.get('location')).toBe('/requests?mine=1');
    expect(result.callback.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='))).toMatch(/^portcullis_session=pcs_[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    const me = await postGraphQL(server.url, { query: '{ me { id email displayName idp groups roles } }' }, { cookie: result.session! });
    expect(me.body).toEqual({ data: { me: { id: 'corp:alice', email: 'alice@example.com', displayName: 'Alice Example', idp: 'corp', groups: ['engineering', 'sre'], roles: ['engineer'] } } });
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'SUCCESS', actor: 'alice@example.com', data: { idp: 'corp', sub: 'alice', groups: ['engineering', 'sre'], protocol: 'oidc' } });
  });

  it('signs in through a second OIDC IdP, with identity scoped to that IdP', async () => {
    const { session } = await signInWithOp(server.url, 'partner');
    const me = await postGraphQL(server.url, { query: '{ me { id email idp groups roles } }' }, { cookie: session! });
    expect(me.body).toEqual({ data: { me: { id: 'partner:bob', email: 'bob@partner.example', idp: 'partner', groups: [], roles: ['auditor'] } } });
  });

  it('sends an S256 PKCE challenge with state and nonce, and redeems the code with the matching verifier (the provider requires PKCE)', async () => {
    const { authorization, callback } = await signInWithOp(server.url, 'corp');
    expect(callback.status).toBe(303);
    const params = authorization.searchParams;
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('response_type')).toBe('code');
    expect(params.get('redirect_uri')).toBe(`${TEST_PUBLIC_URL}/auth/oidc/corp/callback`);
    expect(params.get('scope')).toBe('openid email profile groups');
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(typeof corp.lastCodeVerifier).toBe('string');
    expect(await calculatePKCECodeChallenge(corp.lastCodeVerifier as string)).toBe(params.get('code_challenge'));
  });

  it('refuses a callback replayed after it signed in (its state is taken once), and audits state_unknown', async () => {
    const first = await signInWithOp(server.url, 'corp');
    expect(first.callback.status).toBe(303);
    const replay = await visitCallback(server.url, first.callbackUrl, first.binding);
    expect(replay.status).toBe(401);
    expect(replay.headers.getSetCookie().some((c) => c.startsWith('portcullis_session='))).toBe(false);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', actor: null, data: { idp: 'corp', reason: 'state_unknown' } });
  });

  it('refuses a state begun with one IdP at another IdP\'s callback, leaving it to its own', async () => {
    const trip = await throughProvider(server.url, 'corp');
    const elsewhere = new URL(trip.callbackUrl.href.replace('/auth/oidc/corp/', '/auth/oidc/partner/'));
    expect((await visitCallback(server.url, elsewhere, trip.binding)).status).toBe(401);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'partner', reason: 'state_unknown' } });
    expect((await visitCallback(server.url, trip.callbackUrl, trip.binding)).status).toBe(303);
  });

  it('refuses a callback carried to another browser (login CSRF): no binding cookie, or another sign-in\'s', async () => {
    const mine = await throughProvider(server.url, 'corp');
    expect((await visitCallback(server.url, mine.callbackUrl, null)).status).toBe(401);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'browser_mismatch' } });
    const theirs = await throughProvider(server.url, 'corp');
    const other = await throughProvider(server.url, 'corp');
    expect((await visitCallback(server.url, theirs.callbackUrl, other.binding)).status).toBe(401);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'browser_mismatch' } });
  });

  it('refuses a forged state (unknown, or not a state at all) before anything reaches the provider', async () => {
    const { binding } = await throughProvider(server.url, 'corp');
    const forged = new URL(`${TEST_PUBLIC_URL}/auth/oidc/corp/callback?code=forged&state=${'A'.repeat(43)}`);
    expect((await visitCallback(server.url, forged, binding)).status).toBe(401);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'state_unknown' } });
    const malformed = new URL(`${TEST_PUBLIC_URL}/auth/oidc/corp/callback?code=forged&state=%3Cscript%3E`);
    expect((await visitCallback(server.url, malformed, binding)).status).toBe(401);
    expect((await loginEvents()).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'corp', reason: 'state_missing' } });
  });

  it('answers 404 for an IdP that is not an OIDC one', async () => {
    expect((await fetch(`${server.url}/auth/oidc/nope/login`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${server.url}/auth/oidc/nope/callback?state=x`, { redirect: 'manual' })).status).toBe(404);
  });
});
