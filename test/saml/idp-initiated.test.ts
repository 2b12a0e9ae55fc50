import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSamlId } from '../../server/dev-idp/saml-response.js';
import { configTrusting, createTestIdp, postToAcs, startLogin } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

let server: TestServer;
/** IdP-initiated sign-in left at its default (off). */
let strict: TestIdp;
/** IdP-initiated sign-in on, 60 s, landing on /requests. */
let open: TestIdp;

beforeAll(async () => {
  strict = await createTestIdp('strict');
  open = await createTestIdp('open');
  strict.config.emailDomains = ['example.com'];
  open.config.emailDomains = ['open.example.com'];
  open.config.idpInitiatedSignIn = { enabled: true, maxAgeSeconds: 60, returnTo: '/requests' };
  server = await startTestServer({ config: configTrusting([strict, open]) });
});
afterAll(() => server.close());

const bob = { nameId: 'bob@open.example.com', attributes: { email: 'bob@open.example.com' } };
const auditSince = async (before: number) => (await server.stores.audit.read({ limit: 10_000 })).slice(before).map((e) => [e.type, e.outcome, e.data]);
const auditLength = async () => (await server.stores.audit.read({ limit: 10_000 })).length;

describe('IdP-initiated sign-in is refused by default', () => {
  it('refuses a signed response without InResponseTo with unsolicited_response, and sets no cookie', async () => {
    const before = await auditLength();
    const result = await postToAcs(server.url, 'strict', strict.signedResponse({}));
    expect(result.status).toBe(401);
    expect(result.cookie).toBeNull();
    expect(result.body).toContain('<code>unsolicited_response</code>');
    expect(await auditSince(before)).toEqual([['auth.login', 'DENIED', { idp: 'strict', reason: 'unsolicited_response', clientAddress: '127.0.0.1' }]]);
  });
});

describe('IdP-initiated sign-in, when enabled', () => {
  it('accepts a fresh unsolicited response, lands on the configured returnTo, and audits initiatedBy idp', async () => {
    const before = await auditLength();
    const result = await postToAcs(server.url, 'open', open.signedResponse(bob));
    expect(result.status).toBe(303);
    expect(result.cookie).toMatch(/=/);
    expect(result.location).toBe('/requests');
    expect(await auditSince(before)).toEqual([['auth.login', 'SUCCESS', { idp: 'open', nameId: bob.nameId, groups: [], initiatedBy: 'idp', clientAddress: '127.0.0.1' }]]);
  });

  it('follows a RelayState only when it is a path on this server', async () => {
    expect((await postToAcs(server.url, 'open', open.signedResponse(bob), '/grants')).location).toBe('/grants');
    expect((await postToAcs(server.url, 'open', open.signedResponse(bob), 'https://evil.example/')).location).toBe('/requests');
  });

  it('refuses an unsolicited response issued longer ago than maxAgeSeconds, with unsolicited_too_old', async () => {
    const issued = new Date(Date.now() - 120_000);
    const result = await postToAcs(server.url, 'open', open.signedResponse({ ...bob, issueInstant: issued, notOnOrAfter: new Date(Date.now() + 300_000) }));
    expect(result.status).toBe(401);
    expect(result.cookie).toBeNull();
    expect(result.body).toContain('<code>unsolicited_too_old</code>');
  });

  it('refuses the same unsolicited response a second time (replay)', async () => {
    const xml = open.signedResponse(bob);
    expect((await postToAcs(server.url, 'open', xml)).status).toBe(303);
    const again = await postToAcs(server.url, 'open', xml);
    expect(again.status).toBe(401);
    expect(again.body).toContain('<code>replay</code>');
  });

  it('refuses a captured solicited response with its unsigned Response/@InResponseTo stripped (unsolicited_answers_request)', async () => {
    const { requestId } = await startLogin(server.url, 'open');
    const solicited = open.signedResponse({ ...bob, inResponseTo: requestId });
    const stripped = solicited.replace(/(<samlp:Response\b[^>]*?) InResponseTo="[^"]*"/, '$1');
    expect(stripped).not.toBe(solicited);
    expect(stripped).toContain(`InResponseTo="${requestId}"`);
    const before = await auditLength();
    const result = await postToAcs(server.url, 'open', stripped);
    expect(result.status).toBe(401);
    expect(result.cookie).toBeNull();
    expect(result.body).toContain('<code>unsolicited_answers_request</code>');
    expect(await auditSince(before)).toEqual([['auth.login', 'DENIED', { idp: 'open', reason: 'unsolicited_answers_request', clientAddress: '127.0.0.1' }]]);
  });

  it('still holds a response that carries an InResponseTo to a pending request of ours', async () => {
    const result = await postToAcs(server.url, 'open', open.signedResponse({ ...bob, inResponseTo: newSamlId() }));
    expect(result.status).toBe(401);
    expect(result.body).toContain('<code>in_response_to_unknown</code>');
  });
});
