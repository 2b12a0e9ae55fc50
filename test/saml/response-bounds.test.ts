import { deflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeForPost, signElement } from '../../server/dev-idp/saml-response.js';
import { MAX_RESPONSE_BYTES } from '../../server/saml/raw-response.js';
import { createTestIdp, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

let server: TestServer;
let corp: TestIdp;

beforeAll(async () => {
  corp = await createTestIdp('corp');
  server = await startTestServer({ config: configTrusting([corp]) });
});
afterAll(() => server.close());
afterEach(() => vi.restoreAllMocks());

/** A corp-signed response to a fresh login, with `markup` added to the (unsigned) Response. */
async function signedWithExtra(markup: string): Promise<string> {
  const { requestId } = await startLogin(server.url, 'corp');
  return corp.signedResponse({ inResponseTo: requestId }).replace('<samlp:Status>', `<samlp:Extensions>${markup}</samlp:Extensions><samlp:Status>`);
}

/** Posts to corp's ACS; returns the status, the auth.login events it caused, and how many DOMs were built meanwhile. */
async function post(xml: string, query = ''): Promise<{ status: number; reasons: unknown[]; groups: unknown; domsBuilt: number }> {
  const before = (await server.stores.audit.read({ limit: 10_000 })).length;
  const parse = vi.spyOn(DOMParser.prototype, 'parseFromString');
  const result = await fetch(`${server.url}/auth/saml/corp/acs${query}`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: encodeForPost(xml) }), redirect: 'manual' });
  const domsBuilt = parse.mock.calls.length;
  parse.mockRestore();
  const logins = (await server.stores.audit.read({ limit: 10_000 })).slice(before).filter((e) => e.type === 'auth.login');
  return { status: result.status, reasons: logins.map((e) => e.data.reason ?? e.outcome), groups: logins[0]?.data.groups, domsBuilt };
}

describe('SAML response bounds, checked before any DOM is built', () => {
  it('refuses a 336 KB response of 62,000 empty elements with too_many_elements, having built no DOM', async () => {
    const xml = await signedWithExtra('<x/>'.repeat(62_000));
    expect(Buffer.from(xml).toString('base64').length).toBeGreaterThan(336_000);
    expect(await post(xml)).toMatchObject({ status: 401, reasons: ['too_many_elements'], domsBuilt: 0 });
  });

  it('refuses elements nested deeper than 32 with too_deep', async () => {
    const xml = await signedWithExtra(`${'<x>'.repeat(40)}${'</x>'.repeat(40)}`);
    expect(await post(xml)).toMatchObject({ status: 401, reasons: ['too_deep'], domsBuilt: 0 });
  });

  it('refuses too many XML attributes on one element, and in the whole response', async () => {
    const attributes = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}=""`).join('');
    expect(await post(await signedWithExtra(`<x${attributes(41)}/>`))).toMatchObject({ status: 401, reasons: ['too_many_attributes'], domsBuilt: 0 });
    expect(await post(await signedWithExtra(`<x${attributes(40)}/>`.repeat(101)))).toMatchObject({ status: 401, reasons: ['too_many_attributes'], domsBuilt: 0 });
  });

  it('refuses a response larger than 256 KiB with response_too_large', async () => {
    const xml = await signedWithExtra(`<x>${'a'.repeat(MAX_RESPONSE_BYTES)}</x>`);
    expect(await post(xml)).toMatchObject({ status: 401, reasons: ['response_too_large'], domsBuilt: 0 });
  });

  it('accepts an ordinary response, parsing it once: its signature is verified on the DOM the checks read', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    expect(await post(corp.signedResponse({ inResponseTo: requestId }))).toMatchObject({ status: 303, reasons: ['SUCCESS'], domsBuilt: 1 });
  });

  it('accepts 200 groups named by DN, both signatures, and namespaces and xsi:type on every value (Okta, ADFS)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const groups = Array.from({ length: 200 }, (_, i) => `CN=group-${i}-with-a-long-descriptive-name,OU=Groups,OU=Corp,DC=corp,DC=example,DC=com`);
    const typed = corp
      .responseXml({ inResponseTo: requestId, attributes: { email: 'alice@example.com', displayName: 'Alice', groups, department: 'Engineering', title: 'Engineer' } })
      .replaceAll('<saml:AttributeValue>', '<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">');
    const xml = signElement(signElement(typed, 'Assertion', corp.key), 'Response', corp.key);
    const result = await post(xml);
    expect(result).toMatchObject({ status: 303, reasons: ['SUCCESS'] });
    expect(result.groups).toHaveLength(200);
  });
});

describe('SAML messages in the query string (HTTP-Redirect binding)', () => {
  // 4 MB of empty elements, deflated to 5 KB: passport-saml would inflate it
  // without a limit and parse it, for any caller.
  const bomb = deflateRawSync(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">${'<x/>'.repeat(1_000_000)}</samlp:LogoutRequest>`).toString('base64');

  it('are refused at the login start (400), neither inflated nor parsed', async () => {
    for (const name of ['SAMLRequest', 'SAMLResponse']) {
      const parse = vi.spyOn(DOMParser.prototype, 'parseFromString');
      const res = await fetch(`${server.url}/auth/saml/corp/login?${name}=${encodeURIComponent(bomb)}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(parse).not.toHaveBeenCalled();
      parse.mockRestore();
    }
  });

  it('are refused at the ACS (401, redirect_binding), even beside a valid posted response', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const result = await post(corp.signedResponse({ inResponseTo: requestId }), `?SAMLRequest=${encodeURIComponent(bomb)}`);
    expect(result).toMatchObject({ status: 401, reasons: ['redirect_binding'], domsBuilt: 0 });
  });
});
