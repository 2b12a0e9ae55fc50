import { sign } from 'node:crypto';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { signElement } from '../../server/dev-idp/saml-response.js';
import type { SignatureProfile } from '../../server/dev-idp/saml-response.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import { selfSignedCertificate } from '../support/certificates.js';
import type { KeyPair } from '../support/certificates.js';
import { configTrusting, createTestIdp, postToAcs, startLogin } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/**
 * What an IdP's signature may be (server/saml/xml-signature.ts): SAML Core §5.4's profile of
 * XML-DSig and nothing wider. Each refused case below is a signature made with the IdP's own
 * key: only its form is wrong.
 */

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = `${DSIG}enveloped-signature`;
const XS = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

let server: TestServer;
let corp: TestIdp;
/** An IdP whose certificate holds an EC key. */
let ec: TestIdp;
let ecKey: KeyPair;

beforeAll(async () => {
  [corp, ec, ecKey] = await Promise.all([createTestIdp('corp'), createTestIdp('ec'), selfSignedCertificate('ec-idp', 'ec')]);
  corp.config.emailDomains = ['example.com'];
  ec.config.emailDomains = ['ec.example'];
  ec.config.idpCert = ecKey.cert;
  server = await startTestServer({ config: configTrusting([corp, ec]) });
});
afterAll(() => server.close());

/** A response to a fresh login, its assertion signed by corp with `profile`; `edit` changes the unsigned XML first. */
async function signedWith(profile: Partial<SignatureProfile>, edit: (xml: string) => string = (xml) => xml): Promise<string> {
  const { requestId } = await startLogin(server.url, 'corp');
  return signElement(edit(corp.responseXml({ inResponseTo: requestId })), 'Assertion', corp.key, profile);
}

async function lastLogin() {
  return (await server.stores.audit.read({ limit: 100_000 })).filter((e) => e.type === 'auth.login').at(-1)!;
}

async function expectAccepted(xml: string): Promise<void> {
  const result = await postToAcs(server.url, 'corp', xml);
  expect(result.status, JSON.stringify((await lastLogin()).data)).toBe(303);
  expect(result.cookie).toMatch(/^portcullis_session=/);
}

async function expectRefused(xml: string, reason: RefusalCode, idp = 'corp'): Promise<void> {
  const result = await postToAcs(server.url, idp, xml);
  expect(result.status).toBe(401);
  expect(result.setCookie).toBeNull();
  const event = await lastLogin();
  expect([event.outcome, event.data.reason]).toEqual(['DENIED', reason]);
}

describe('signature and digest algorithms', () => {
  it('accepts RSA-SHA512 with a SHA-512 digest', async () => {
    await expectAccepted(await signedWith({ signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512', digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha512' }));
  });

  it('accepts RSA-PSS with SHA-256 (sha256-rsa-MGF1)', async () => {
    await expectAccepted(await signedWith({ signatureAlgorithm: 'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1' }));
  });

  it('refuses RSA-SHA1 (signature_invalid)', async () => {
    await expectRefused(await signedWith({ signatureAlgorithm: `${DSIG}rsa-sha1` }), 'signature_invalid');
  });

  it('refuses a SHA-1 reference digest under RSA-SHA256 (signature_invalid)', async () => {
    await expectRefused(await signedWith({ digestAlgorithm: `${DSIG}sha1` }), 'signature_invalid');
  });

  it("refuses an ECDSA signature by the IdP's own EC key labelled RSA-SHA256 (signature_invalid)", async () => {
    const { requestId } = await startLogin(server.url, 'ec');
    const xml = signElement(ec.responseXml({ inResponseTo: requestId, nameId: 'eve@ec.example', attributes: { email: 'eve@ec.example' } }), 'Assertion', ecKey);
    expect(xml).toContain('xmldsig-more#rsa-sha256');
    await expectRefused(xml, 'signature_invalid', 'ec');
  });
  // The algorithm tables are Maps: on a plain object, a digest named "constructor" or
  // "__proto__" under a valid signature found an inherited member and failed with a 500.
  for (const name of ['constructor', '__proto__']) {
    it(`refuses a reference digest named "${name}" under the IdP's valid signature (signature_invalid)`, async () => {
      const xml = resigned(await signedWith({}), (signedInfo) => signedInfo.getElementsByTagNameNS(DSIG, 'DigestMethod')[0]!.setAttribute('Algorithm', name));
      expect(xml).toContain(`Algorithm="${name}"`);
      await expectRefused(xml, 'signature_invalid');
    });
  }
});

/** `xml` with the SignedInfo of its one signature changed by `edit`, then signed again with corp's key (RSA-SHA256). */
function resigned(xml: string, edit: (signedInfo: Element) => void): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const signedInfo = doc.getElementsByTagNameNS(DSIG, 'SignedInfo')[0]!;
  edit(signedInfo as unknown as Element);
  const canonical = new ExclusiveCanonicalization().process(signedInfo as unknown as Element, { inclusiveNamespacesPrefixList: [], ancestorNamespaces: [] });
  doc.getElementsByTagNameNS(DSIG, 'SignatureValue')[0]!.textContent = sign('sha256', Buffer.from(String(canonical), 'utf8'), corp.key.privateKey).toString('base64');
  return new XMLSerializer().serializeToString(doc);
}

describe('transforms and canonicalisation', () => {
  it('accepts an InclusiveNamespaces PrefixList naming a prefix the Response declares (as Okta and Shibboleth sign)', async () => {
    const typedValues = (xml: string) =>
      xml
        .replace('<samlp:Response ', `<samlp:Response xmlns:xs="${XS}" xmlns:xsi="${XSI}" `)
        .replaceAll('<saml:AttributeValue>', '<saml:AttributeValue xsi:type="xs:string">');
    const xml = await signedWith({ inclusivePrefixes: ['xs'] }, typedValues);
    expect(xml).toContain('PrefixList="xs"');
    await expectAccepted(xml);
  });

  const prefixes = (count: number) => Array.from({ length: count }, (_, i) => `p${i}`);

  it('accepts an InclusiveNamespaces PrefixList of 32 prefixes', async () => {
    await expectAccepted(await signedWith({ inclusivePrefixes: prefixes(32) }));
  });

  it('refuses an InclusiveNamespaces PrefixList of 33 prefixes, each a cost on every element canonicalised (signature_invalid)', async () => {
    const xml = await signedWith({ inclusivePrefixes: prefixes(33) });
    expect(xml).toContain(' p32"');
    await expectRefused(xml, 'signature_invalid');
  });

  it('refuses inclusive C14N as the reference canonicalisation (signature_invalid)', async () => {
    await expectRefused(await signedWith({ transforms: [ENVELOPED, 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315'] }), 'signature_invalid');
  });

  it('refuses exclusive C14N with comments (signature_invalid)', async () => {
    await expectRefused(await signedWith({ transforms: [ENVELOPED, `${EXC_C14N}WithComments`] }), 'signature_invalid');
  });

  it('refuses the enveloped transform alone, which leaves canonicalisation implicit (signature_invalid)', async () => {
    await expectRefused(await signedWith({ transforms: [ENVELOPED] }), 'signature_invalid');
  });

  it('refuses SignedInfo canonicalised with inclusive C14N (signature_invalid)', async () => {
    await expectRefused(await signedWith({ canonicalizationAlgorithm: 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315' }), 'signature_invalid');
  });
});

describe('the signature element', () => {
  // SignedInfo does not cover an Object: adding one leaves the signature valid, and an
  // Object is where XSW8 hides the original assertion.
  it('refuses a valid signature carrying a ds:Object (signature_invalid)', async () => {
    const xml = (await signedWith({})).replace('</Signature>', '<Object><Anything/></Object></Signature>');
    expect(xml).toContain('<Object>');
    await expectRefused(xml, 'signature_invalid');
  });

  it('refuses a response whose own signature does not verify, though its assertion is validly signed (signature_invalid)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const signedTwice = signElement(corp.signedResponse({ inResponseTo: requestId }), 'Response', corp.key);
    const changed = signedTwice.replace(/(<samlp:Response[^>]* IssueInstant=")[^"]+"/, '$11999-01-01T00:00:00Z"');
    expect(changed).not.toBe(signedTwice);
    await expectRefused(changed, 'signature_invalid');
  });
});

describe('the response around a signed assertion', () => {
  it('refuses an error status, even with a validly signed assertion (idp_error_status)', async () => {
    const xml = await signedWith({}, (unsigned) => unsigned.replace('urn:oasis:names:tc:SAML:2.0:status:Success', 'urn:oasis:names:tc:SAML:2.0:status:Responder'));
    await expectRefused(xml, 'idp_error_status');
  });

  it('refuses an element whose prefix is bound to no namespace (malformed_xml)', async () => {
    const xml = (await signedWith({})).replace('<samlp:Status>', '<evil:Extensions/><samlp:Status>');
    await expectRefused(xml, 'malformed_xml');
  });
});
