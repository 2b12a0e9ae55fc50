import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signInWithOp, startTestOp, throughProvider, visitCallback } from '../support/oidc-op.js';
import type { OpAccount, TestOp } from '../support/oidc-op.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** Text the provider's side puts in what it sends, hoping to see it on our page or in a trusted record. */
const MARKER = 'ATTACKER-TEXT-5c1e0b';

const ACCOUNTS: Record<string, OpAccount> = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['engineering'] },
  outsider: { email: `mallory@${MARKER.toLowerCase()}.example`, email_verified: true },
  unverified: { email: 'carol@example.com', email_verified: false },
  silent: { email: 'dave@example.com' },
  nomail: { name: 'No Mail' },
  badgroups: { email: 'erin@example.com', email_verified: true, groups: MARKER },
  crowd: { email: 'frank@example.com', email_verified: true, groups: Array.from({ length: 201 }, (_, i) => `g${i}`) },
};

let server: TestServer;
let op: TestOp;

beforeAll(async () => {
  op = await startTestOp('corp', ACCOUNTS);
  // At info, as in production: the libraries' own messages go to the debug level only.
  server = await startTestServer({
    config: testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [op.config({ emailDomains: ['example.com'] })], logging: { level: 'info' } }),
  });
});
afterAll(async () => {
  await server.close();
  await op.close();
});
afterEach(() => {
  op.next = { account: 'alice' };
  op.tamper = null;
  op.resignAlg = 'RS256';
});

const cases: [string, string, () => void][] = [
  ['an ID token for another client (aud)', 'id_token_invalid', () => (op.tamper = (claims) => ({ ...claims, aud: 'another-client' }))],
  ['an ID token with another nonce', 'id_token_invalid', () => (op.tamper = (claims) => ({ ...claims, nonce: MARKER }))],
  ['an ID token from another issuer', 'id_token_invalid', () => (op.tamper = (claims) => ({ ...claims, iss: `https://${MARKER}.example` }))],
  ['an expired ID token (past the clock skew)', 'id_token_invalid', () => (op.tamper = (claims) => ({ ...claims, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }))],
  ['an ID token MACed with the client secret (HS256: no proof of the provider)', 'id_token_invalid', () => ((op.tamper = (claims) => claims), (op.resignAlg = 'HS256'))],
  ['an unsigned ID token (alg none)', 'id_token_invalid', () => ((op.tamper = (claims) => claims), (op.resignAlg = 'none'))],
  ['an ID token signed with a key that is not the provider\'s (its key id kept)', 'id_token_invalid', () => ((op.tamper = (claims) => claims), (op.resignAlg = 'RS256 foreign'))],
  ['an ID token whose at_hash names another access token', 'id_token_invalid', () => (op.tamper = (claims) => ({ ...claims, at_hash: 'AAAAAAAAAAAAAAAAAAAAAA' }))],
  ['an email outside the IdP\'s emailDomains', 'email_domain_not_allowed', () => (op.next = { account: 'outsider' })],
  ['email_verified false', 'email_not_verified', () => (op.next = { account: 'unverified' })],
  ['no email_verified claim', 'email_not_verified', () => (op.next = { account: 'silent' })],
  ['no email claim', 'email_missing', () => (op.next = { account: 'nomail' })],
  ['a groups claim that is not an array of strings', 'groups_invalid', () => (op.next = { account: 'badgroups' })],
  ['more groups than accepted', 'too_many_groups', () => (op.next = { account: 'crowd' })],
];

describe('OIDC refusals: each audited with its fixed reason, no session, nothing the provider wrote echoed', () => {
  for (const [what, reason, arrange] of cases) {
    it(`refuses ${what} (${reason})`, async () => {
      arrange();
      const before = (await server.stores.audit.read({ limit: 10_000 })).length;
      const logged = server.logs.length;
      const { callback, session } = await signInWithOp(server.url, 'corp');
      expect(callback.status).toBe(401);
      expect(session).toBeNull();
      const page = await callback.text();
      expect(page).toContain('Sign-in refused');
      expect(page).toContain(`Reason code: <code>${reason}</code>`);
      expect(page).not.toContain(MARKER);
      const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
      expect(events.map((e) => [e.type, e.outcome, e.actor, e.data])).toEqual([['auth.login', 'DENIED', null, { idp: 'corp', reason, clientAddress: '127.0.0.1' }]]);
      expect(JSON.stringify(events)).not.toContain(MARKER);
      expect(server.logs.slice(logged).join('')).not.toContain(MARKER);
    });
  }

  it('records the provider\'s OAuth error by its code only (provider_error), never its description', async () => {
    op.next = { error: 'access_denied', description: `<script>${MARKER}</script>` };
    const before = (await server.stores.audit.read({ limit: 10_000 })).length;
    const { callback, callbackUrl } = await signInWithOp(server.url, 'corp');
    expect(callbackUrl.searchParams.get('error_description')).toContain(MARKER);
    expect(callback.status).toBe(401);
    expect(await callback.text()).not.toContain(MARKER);
    const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
    expect(events.map((e) => [e.outcome, e.data])).toEqual([['DENIED', { idp: 'corp', reason: 'provider_error', error: 'access_denied', clientAddress: '127.0.0.1' }]]);
  });

  it('records a code the token endpoint refuses as provider_error with its OAuth code (invalid_grant)', async () => {
    const trip = await throughProvider(server.url, 'corp');
    trip.callbackUrl.searchParams.set('code', MARKER);
    const before = (await server.stores.audit.read({ limit: 10_000 })).length;
    expect((await visitCallback(server.url, trip.callbackUrl, trip.binding)).status).toBe(401);
    const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
    expect(events.map((e) => [e.outcome, e.data])).toEqual([['DENIED', { idp: 'corp', reason: 'provider_error', error: 'invalid_grant', clientAddress: '127.0.0.1' }]]);
  });

  it('accepts an ID token re-signed with the provider\'s key and unchanged (each tampering case above differs only in its claim)', async () => {
    op.tamper = (claims) => claims;
    const { callback, session } = await signInWithOp(server.url, 'corp');
    expect(callback.status).toBe(303);
    expect(session).toMatch(/^portcullis_session=pcs_/);
  });

  it('accepts an at_hash that names the access token (left half of its SHA-256, OpenID Connect Core §3.1.3.6)', async () => {
    op.tamper = (claims, { access_token }) => ({ ...claims, at_hash: createHash('sha256').update(access_token!).digest().subarray(0, 16).toString('base64url') });
    expect((await signInWithOp(server.url, 'corp')).callback.status).toBe(303);
  });

  it('signs the same person in once the provider behaves (the refusals above were about the tokens, not the setup)', async () => {
    const { callback, session } = await signInWithOp(server.url, 'corp');
    expect(callback.status).toBe(303);
    expect(session).toMatch(/^portcullis_session=pcs_/);
  });
});

describe('requireVerifiedEmail: false', () => {
  it('lets an address the provider has not verified sign in, still held to the IdP\'s domains', async () => {
    const lax = await startTestOp('lax', { carol: { email: 'carol@example.com', email_verified: false }, mallory: { email: 'mallory@elsewhere.example' } });
    const laxServer = await startTestServer({
      config: testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [lax.config({ emailDomains: ['example.com'], requireVerifiedEmail: false })] }),
    });
    try {
      expect((await signInWithOp(laxServer.url, 'lax')).callback.status).toBe(303);
      lax.next = { account: 'mallory' };
      expect((await signInWithOp(laxServer.url, 'lax')).callback.status).toBe(401);
      expect((await laxServer.stores.audit.read({ limit: 10_000 })).at(-1)).toMatchObject({ outcome: 'DENIED', data: { idp: 'lax', reason: 'email_domain_not_allowed' } });
    } finally {
      await laxServer.close();
      await lax.close();
    }
  });
});
