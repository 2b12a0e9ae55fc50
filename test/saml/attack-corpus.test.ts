import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { buildResponseXml, newSamlId, signElement } from '../../server/dev-idp/saml-response.js';
import type { SigningKey } from '../../server/dev-idp/saml-response.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { createTestIdp, postToAcs, startLogin, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { AcsResult, TestIdp } from '../support/test-idp.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/**
 * The SAML attack corpus: every response here is built from a real IdP signature (or a
 * forged one) and tampered with the way published attacks do it, then posted to the ACS.
 * Each must be refused: 401, no cookie, one DENIED auth.login audit event whose reason is
 * the stable code of the check that refused it.
 * The baselines first show the same documents untampered are accepted, so a refusal
 * below is the attack failing, not the test harness.
 */

const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
/** Who every identity-changing attack tries to become. */
const ADMIN = 'admin@example.com';
const MINUTE = 60_000;
/** Comments are refused before any signature code runs (server/saml/raw-response.ts). */
const COMMENT = 'xml_comment';

let server: TestServer;
let corp: TestIdp;
let partner: TestIdp;
/** A key the SP does not trust, with a certificate that looks like corp's (same CN). */
let attacker: SigningKey;
let auditCursor: string | undefined;

beforeAll(async () => {
  [corp, partner, attacker] = await Promise.all([createTestIdp('corp'), createTestIdp('partner'), selfSignedCertificate('corp-idp')]);
  server = await startTestServer({
    config: testConfig({
      server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
      identityProviders: [
        { ...corp.config, emailDomains: ['example.com'] },
        // partner wants its signature on the assertion itself; corp takes one on the Response too.
        { ...partner.config, emailDomains: ['partner.example'], requireSignedAssertions: true },
      ],
    }),
  });
});
afterAll(() => server.close());

// ---------------------------------------------------------------------------------------
// Posting and asserting
// ---------------------------------------------------------------------------------------

/** The audit events appended since the previous call. */
async function newAuditEvents(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (;;) {
    const page = await server.stores.audit.read(auditCursor === undefined ? { limit: 500 } : { after: auditCursor, limit: 500 });
    const last = page.at(-1);
    if (!last) return events;
    events.push(...page);
    auditCursor = last.id;
  }
}

/** POSTs to the ACS of `idpId` and returns the answer with the auth.login events it caused. */
async function post(idpId: string, xml: string): Promise<{ result: AcsResult; logins: AuditEvent[] }> {
  await newAuditEvents();
  const result = await postToAcs(server.url, idpId, xml);
  const logins = (await newAuditEvents()).filter((e) => e.type === 'auth.login');
  return { result, logins };
}

/** A fresh AuthnRequest id, as the IdP would echo it in InResponseTo. */
async function requestId(idpId = 'corp'): Promise<string> {
  return (await startLogin(server.url, idpId)).requestId;
}

/** The response is refused: 401, no Set-Cookie, exactly one DENIED auth.login for `idpId` (with one of the `reasons`). */
async function expectRefused(idpId: string, xml: string, ...reasons: RefusalCode[]): Promise<string> {
  const { result, logins } = await post(idpId, xml);
  const seen = `status ${result.status}, audit ${JSON.stringify(logins.map((e) => ({ outcome: e.outcome, actor: e.actor, data: e.data })))}`;
  expect(result.status, `ACCEPTED? ${seen}`).toBe(401);
  expect(result.setCookie, seen).toBeNull();
  expect(logins.map((e) => e.outcome), seen).toEqual(['DENIED']);
  const data = logins[0]?.data ?? {};
  expect(data.idp).toBe(idpId);
  expect(typeof data.reason).toBe('string');
  const text = String(data.reason);
  expect(text.trim()).not.toBe('');
  if (reasons.length > 0) expect(reasons).toContain(text);
  return text;
}

/** The signature check is what refused it (node-saml / xml-crypto). */
const SIGNATURE = 'signature_invalid';

/**
 * The weaker rule for inputs that are not identity-changing by themselves: refused, or
 * signed in as exactly `nameId` (never a truncated or substituted identity).
 */
async function expectRefusedOrSignedInAs(idpId: string, xml: string, nameId: string): Promise<void> {
  const { result, logins } = await post(idpId, xml);
  if (result.status === 401) {
    expect(result.setCookie).toBeNull();
    expect(logins.map((e) => e.outcome)).toEqual(['DENIED']);
    return;
  }
  expect(result.status).toBe(303);
  expect(logins.map((e) => [e.outcome, e.actor, e.data.nameId])).toEqual([['SUCCESS', nameId, nameId]]);
}

/** The response is accepted: 303 with a session cookie and a SUCCESS auth.login for `nameId`. */
async function expectAccepted(idpId: string, xml: string, nameId = 'alice@example.com'): Promise<void> {
  const { result, logins } = await post(idpId, xml);
  expect(result.status, JSON.stringify(logins.map((e) => e.data))).toBe(303);
  expect(result.cookie).toMatch(/^portcullis_session=pcs_/);
  expect(logins.map((e) => e.outcome)).toEqual(['SUCCESS']);
  expect(logins[0]?.data).toMatchObject({ idp: idpId, nameId });
}

// ---------------------------------------------------------------------------------------
// XML surgery
// ---------------------------------------------------------------------------------------

function parse(xml: string): Document {
  return new DOMParser().parseFromString(xml, 'text/xml');
}

/** Parses, lets `mutate` operate on the DOM, serializes back. */
function tamper(xml: string, mutate: (doc: Document) => void): string {
  const doc = parse(xml);
  mutate(doc);
  return new XMLSerializer().serializeToString(doc);
}

/** The first descendant `ns:localName` of `scope` (document order). */
function first(scope: Document | Element, ns: string, localName: string): Element {
  const element = scope.getElementsByTagNameNS(ns, localName).item(0);
  if (!element) throw new Error(`no ${localName} in the document`);
  return element;
}

/** The direct child `ns:localName` of `parent`. */
function child(parent: Element, ns: string, localName: string): Element {
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && (node as Element).namespaceURI === ns && (node as Element).localName === localName) return node as Element;
  }
  throw new Error(`no ${localName} child of ${parent.localName}`);
}

const responseOf = (doc: Document): Element => doc.documentElement;
const assertionOf = (doc: Document): Element => first(doc, SAML, 'Assertion');
const signatureOf = (element: Element): Element => child(element, DS, 'Signature');

/** SAMLRaider's "match and replace": the assertion now claims to be the admin. */
function makeEvil(assertion: Element): void {
  first(assertion, SAML, 'NameID').textContent = ADMIN;
  const attributes = assertion.getElementsByTagNameNS(SAML, 'Attribute');
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes.item(i);
    if (attribute?.getAttribute('Name') === 'email') first(attribute, SAML, 'AttributeValue').textContent = ADMIN;
  }
}

/** A clone of `element` with its own (enveloped) Signature removed. */
function unsignedClone(element: Element): Element {
  const clone = element.cloneNode(true) as Element;
  clone.removeChild(signatureOf(clone));
  return clone;
}

/** Puts `moved` right after the Issuer child of `parent`, where an enveloped Signature sits. */
function insertAfterIssuer(parent: Element, moved: Node): void {
  parent.insertBefore(moved, child(parent, SAML, 'Issuer').nextSibling);
}

/** The base64 SHA-256 digest a signature over this document's Assertion would carry. */
function assertionDigest(doc: Document): string {
  const copy = parse(new XMLSerializer().serializeToString(doc));
  const assertion = assertionOf(copy);
  const signature = assertion.getElementsByTagNameNS(DS, 'Signature').item(0);
  if (signature) signature.parentNode?.removeChild(signature);
  // The digest does not depend on the key: sign with any and read it back.
  const signed = signElement(new XMLSerializer().serializeToString(copy), 'Assertion', attacker);
  return first(parse(signed), DS, 'DigestValue').textContent ?? '';
}

/** `<X><!--comment-->existing text</X>` */
function prependComment(element: Element, comment: string): void {
  element.insertBefore(element.ownerDocument.createComment(comment), element.firstChild);
}

function setDigestValue(signedInfo: Element, value: string): void {
  first(signedInfo, DS, 'DigestValue').textContent = value;
}

/** A corp response to a fresh request, its assertion signed by corp. */
async function signedByCorp(extra: Parameters<TestIdp['signedResponse']>[0] = {}): Promise<string> {
  return corp.signedResponse({ inResponseTo: await requestId(), ...extra });
}

/** A corp response with both the Response and the Assertion signed (the usual IdP shape). */
async function bothSignedByCorp(): Promise<string> {
  return signElement(await signedByCorp(), 'Response', corp.key);
}

/** A corp response with only the Response signed: its assertion carries no signature. */
async function responseSignedByCorp(): Promise<string> {
  return signElement(corp.responseXml({ inResponseTo: await requestId() }), 'Response', corp.key);
}

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

describe('baseline: untampered responses are accepted', () => {
  it('accepts the response with its assertion signed by the IdP (303 + session cookie)', async () => {
    await expectAccepted('corp', await signedByCorp());
  });

  it('accepts the same response after a DOM parse/serialize round trip (the surgery itself breaks nothing)', async () => {
    await expectAccepted(
      'corp',
      tamper(await signedByCorp(), () => {}),
    );
  });

  it('accepts a response with both the Response and the Assertion signed', async () => {
    await expectAccepted('corp', tamper(await bothSignedByCorp(), () => {}));
  });

  it('accepts a response signed only on the Response (its signature covers the assertion)', async () => {
    await expectAccepted('corp', await responseSignedByCorp());
  });
});

describe('XML signature wrapping (SAMLRaider XSW1–XSW8)', () => {
  // XSW1/XSW2 target a signed Response: the outer Response becomes the evil one (new ID),
  // an unsigned copy of the original Response is hidden next to or inside its Signature.
  const xsw1 = (doc: Document) => {
    const response = responseOf(doc);
    const original = unsignedClone(response);
    makeEvil(assertionOf(doc));
    signatureOf(response).appendChild(original);
    response.setAttribute('ID', '_evil_response_ID');
  };
  const xsw2 = (doc: Document) => {
    const response = responseOf(doc);
    const original = unsignedClone(response);
    makeEvil(assertionOf(doc));
    const signature = signatureOf(response);
    response.insertBefore(original, signature);
    response.setAttribute('ID', '_evil_response_ID');
  };

  for (const [name, build] of [
    ['Response signed, assertion unsigned', responseSignedByCorp],
    ['Response and assertion signed', bothSignedByCorp],
  ] as const) {
    it(`refuses XSW1 (${name}): evil Response, original Response copy inside its Signature`, async () => {
      const xml = tamper(await build(), xsw1);
      expect(xml).toContain(ADMIN);
      await expectRefused('corp', xml, SIGNATURE);
    });

    it(`refuses XSW2 (${name}): evil Response, original Response copy before its Signature`, async () => {
      const xml = tamper(await build(), xsw2);
      expect(xml).toContain(ADMIN);
      await expectRefused('corp', xml, SIGNATURE);
    });
  }

  // XSW3–XSW8 target the signed Assertion.
  const cases: [string, (doc: Document) => void][] = [
    [
      'XSW3: evil assertion (new ID, unsigned) before the signed one',
      (doc) => {
        const original = assertionOf(doc);
        const evil = unsignedClone(original);
        makeEvil(evil);
        evil.setAttribute('ID', '_evil_assertion_ID');
        responseOf(doc).insertBefore(evil, original);
      },
    ],
    [
      'XSW4: evil assertion (new ID, unsigned) wrapping the signed one',
      (doc) => {
        const original = assertionOf(doc);
        const evil = unsignedClone(original);
        makeEvil(evil);
        evil.setAttribute('ID', '_evil_assertion_ID');
        responseOf(doc).appendChild(evil);
        evil.appendChild(original);
      },
    ],
    [
      'XSW5: evil assertion keeps the Signature, unsigned original copy appended to the Response',
      (doc) => {
        const evil = assertionOf(doc);
        const original = unsignedClone(evil);
        makeEvil(evil);
        responseOf(doc).appendChild(original);
        evil.setAttribute('ID', '_evil_assertion_ID');
      },
    ],
    [
      'XSW6: evil assertion keeps the Signature, unsigned original copy inside that Signature',
      (doc) => {
        const evil = assertionOf(doc);
        const original = unsignedClone(evil);
        makeEvil(evil);
        signatureOf(evil).appendChild(original);
        evil.setAttribute('ID', '_evil_assertion_ID');
      },
    ],
    [
      'XSW7: signed assertion in place, evil copy (same ID) in samlp:Extensions',
      (doc) => {
        const original = assertionOf(doc);
        const extensions = doc.createElementNS(SAMLP, 'samlp:Extensions');
        responseOf(doc).insertBefore(extensions, original);
        const evil = unsignedClone(original);
        makeEvil(evil);
        extensions.appendChild(evil);
      },
    ],
    [
      'XSW8: evil assertion (same ID) keeps the Signature, unsigned original inside Signature/Object',
      (doc) => {
        const evil = assertionOf(doc);
        const original = unsignedClone(evil);
        makeEvil(evil);
        const object = doc.createElementNS(DS, 'Object');
        signatureOf(evil).appendChild(object);
        object.appendChild(original);
      },
    ],
  ];
  for (const [name, wrap] of cases) {
    it(`refuses ${name}`, async () => {
      const xml = tamper(await signedByCorp(), wrap);
      expect(xml).toContain(ADMIN);
      await expectRefused('corp', xml, SIGNATURE);
    });
  }
});

describe('who signed, and what', () => {
  it('refuses an unsigned assertion inside a Response the IdP did sign, from an IdP with requireSignedAssertions', async () => {
    const xml = signElement(partner.responseXml({ inResponseTo: await requestId('partner'), nameId: 'pat@partner.example', attributes: { email: 'pat@partner.example' } }), 'Response', partner.key);
    await expectRefused('partner', xml, SIGNATURE);
  });

  it('refuses an assertion signed by another key whose certificate is embedded in KeyInfo', async () => {
    const xml = signElement(corp.responseXml({ inResponseTo: await requestId(), nameId: ADMIN, attributes: { email: ADMIN } }), 'Assertion', attacker);
    expect(first(parse(xml), DS, 'X509Certificate').textContent).toBe(pemBody(attacker.cert));
    await expectRefused('corp', xml, SIGNATURE);
  });

  it("refuses an assertion signed by another key with the IdP's own certificate in KeyInfo", async () => {
    const xml = signElement(
      corp.responseXml({ inResponseTo: await requestId(), nameId: ADMIN, attributes: { email: ADMIN } }),
      'Assertion',
      { privateKey: attacker.privateKey, cert: corp.key.cert },
    );
    await expectRefused('corp', xml, SIGNATURE);
  });
});

describe('signature references', () => {
  it('refuses a Reference URI re-pointed at the Response ID', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      first(assertionOf(doc), DS, 'Reference').setAttribute('URI', `#${responseOf(doc).getAttribute('ID') ?? ''}`);
    });
    await expectRefused('corp', xml, SIGNATURE);
  });

  it("refuses the IdP's valid Response signature moved into the (unsigned) assertion", async () => {
    const xml = tamper(await responseSignedByCorp(), (doc) => {
      const signature = signatureOf(responseOf(doc));
      insertAfterIssuer(assertionOf(doc), signature);
    });
    await expectRefused('corp', xml, SIGNATURE);
  });

  it('refuses an evil assertion (new ID) whose Signature references the original wrapped in samlp:Extensions', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      const evil = assertionOf(doc);
      const original = unsignedClone(evil);
      makeEvil(evil);
      evil.setAttribute('ID', newSamlId());
      const extensions = doc.createElementNS(SAMLP, 'samlp:Extensions');
      extensions.appendChild(original);
      responseOf(doc).insertBefore(extensions, child(responseOf(doc), SAMLP, 'Status'));
    });
    expect(xml).toContain(ADMIN);
    await expectRefused('corp', xml, SIGNATURE);
  });

  it('refuses two elements with the signed ID: evil copy at the signed position, original in samlp:Extensions/ds:Object', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      const evil = assertionOf(doc);
      const original = evil.cloneNode(true) as Element;
      makeEvil(evil);
      const extensions = doc.createElementNS(SAMLP, 'samlp:Extensions');
      const object = doc.createElementNS(DS, 'ds:Object');
      extensions.appendChild(object);
      object.appendChild(original);
      responseOf(doc).insertBefore(extensions, child(responseOf(doc), SAMLP, 'Status'));
    });
    expect(xml).toContain(ADMIN);
    await expectRefused('corp', xml, SIGNATURE);
  });

  it('refuses two elements with the signed ID: original signed assertion in place, evil duplicate after it', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      const original = assertionOf(doc);
      const evil = unsignedClone(original);
      makeEvil(evil);
      const extensions = doc.createElementNS(SAMLP, 'samlp:Extensions');
      extensions.appendChild(evil);
      responseOf(doc).appendChild(extensions);
    });
    expect(xml).toContain(ADMIN);
    await expectRefused('corp', xml, SIGNATURE);
  });
});

describe('DigestValue with a leading comment (CVE-2025-29775 input)', () => {
  it('refuses an unmodified signed assertion whose DigestValue starts with <!---->', async () => {
    const xml = tamper(await signedByCorp(), (doc) => prependComment(first(assertionOf(doc), DS, 'DigestValue'), ''));
    expect(xml).toMatch(/<DigestValue><!---->[A-Za-z0-9+/=]+<\/DigestValue>/);
    await expectRefused('corp', xml);
  });

  it('never signs in anyone but alice with that unmodified assertion (the comment is outside the signed bytes)', async () => {
    const xml = tamper(await signedByCorp(), (doc) => prependComment(first(assertionOf(doc), DS, 'DigestValue'), ''));
    await expectRefusedOrSignedInAs('corp', xml, 'alice@example.com');
  });

  it('refuses an evil assertion whose DigestValue starts with <!---->', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      makeEvil(assertionOf(doc));
      prependComment(first(assertionOf(doc), DS, 'DigestValue'), '');
    });
    expect(xml).toContain(ADMIN);
    await expectRefused('corp', xml, COMMENT);
  });

  it("refuses an evil assertion whose DigestValue is <!--evil digest-->original digest", async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      makeEvil(assertionOf(doc));
      prependComment(first(assertionOf(doc), DS, 'DigestValue'), assertionDigest(doc));
    });
    expect(xml).toContain(ADMIN);
    await expectRefused('corp', xml, COMMENT);
  });
});

describe('a second SignedInfo (CVE-2025-29774 input)', () => {
  for (const where of ['after', 'before'] as const) {
    it(`refuses an evil assertion with a forged SignedInfo (evil digest) ${where} the original one`, async () => {
      const xml = tamper(await signedByCorp(), (doc) => {
        makeEvil(assertionOf(doc));
        const evilDigest = assertionDigest(doc);
        const signature = signatureOf(assertionOf(doc));
        const signedInfo = child(signature, DS, 'SignedInfo');
        const forged = signedInfo.cloneNode(true) as Element;
        setDigestValue(forged, evilDigest);
        signature.insertBefore(forged, where === 'after' ? signedInfo.nextSibling : signedInfo);
      });
      expect(xml).toContain(ADMIN);
      expect(xml.match(/<SignedInfo>/g)).toHaveLength(2);
      await expectRefused('corp', xml, SIGNATURE);
    });
  }

  it('refuses an evil assertion with a second SignedInfo that carries no Transforms (reaches the multiple-SignedInfo check)', async () => {
    const xml = tamper(await signedByCorp(), (doc) => {
      makeEvil(assertionOf(doc));
      const evilDigest = assertionDigest(doc);
      const signature = signatureOf(assertionOf(doc));
      const signedInfo = child(signature, DS, 'SignedInfo');
      const forged = signedInfo.cloneNode(true) as Element;
      const transforms = first(forged, DS, 'Transforms');
      transforms.parentNode?.removeChild(transforms);
      setDigestValue(forged, evilDigest);
      signature.insertBefore(forged, signedInfo.nextSibling);
    });
    expect(xml.match(/<SignedInfo>/g)).toHaveLength(2);
    const logged = server.logs.length;
    await expectRefused('corp', xml, SIGNATURE);
    // The audit records the stable code; the library's own words stay in the debug log.
    expect(server.logs.slice(logged).join('')).toMatch(/"reason":"signature_invalid","detail":"[^"]*multiple SignedInfo/);
  });
});

describe('NameID must be one text node (CVE-2017-11428 class)', () => {
  it('refuses a signed NameID alice@example.com.evil.com turned into alice@example.com<!---->.evil.com', async () => {
    const evilDomainUser = 'alice@example.com.evil.com';
    const signed = await signedByCorp({ nameId: evilDomainUser, attributes: { email: evilDomainUser } });
    const xml = signed.replace(`>${evilDomainUser}</saml:NameID>`, '>alice@example.com<!---->.evil.com</saml:NameID>');
    expect(xml).toContain('alice@example.com<!---->.evil.com</saml:NameID>');
    await expectRefused('corp', xml, COMMENT);
  });

  it('never truncates a NameID at a comment: signs in only as the full text, if at all', async () => {
    const evilDomainUser = 'alice@example.com.evil.com';
    const signed = await signedByCorp({ nameId: evilDomainUser, attributes: { email: evilDomainUser } });
    const xml = signed.replace(`>${evilDomainUser}</saml:NameID>`, '>alice@example.com<!---->.evil.com</saml:NameID>');
    await expectRefusedOrSignedInAs('corp', xml, evilDomainUser);
  });
});

describe('audience', () => {
  it('refuses an Audience that is not our SP entity id', async () => {
    await expectRefused('corp', await signedByCorp({ audience: 'https://evil.example/sp' }), 'audience_mismatch');
  });

  it("refuses an assertion meant for another of our SPs (partner's entity id) at corp's ACS", async () => {
    await expectRefused('corp', await signedByCorp({ audience: partner.spEntityId }), 'audience_mismatch');
  });

  it('refuses an assertion without AudienceRestriction', async () => {
    const unsigned = corp.responseXml({ inResponseTo: await requestId() }).replace(/<saml:AudienceRestriction>.*<\/saml:AudienceRestriction>/, '');
    expect(unsigned).not.toContain('AudienceRestriction');
    await expectRefused('corp', signElement(unsigned, 'Assertion', corp.key), 'audience_missing');
  });

  it('refuses an AudienceRestriction without Audience', async () => {
    const unsigned = corp.responseXml({ inResponseTo: await requestId() }).replace(/<saml:Audience>.*<\/saml:Audience>/, '');
    expect(unsigned).toContain('<saml:AudienceRestriction></saml:AudienceRestriction>');
    await expectRefused('corp', signElement(unsigned, 'Assertion', corp.key), 'audience_missing');
  });
});

describe('validity window (60 s skew)', () => {
  it('refuses NotBefore 2 minutes in the future', async () => {
    const now = Date.now();
    const xml = await signedByCorp({ issueInstant: new Date(now), notBefore: new Date(now + 2 * MINUTE), notOnOrAfter: new Date(now + 10 * MINUTE) });
    await expectRefused('corp', xml, 'not_yet_valid');
  });

  it('refuses NotOnOrAfter 2 minutes in the past', async () => {
    const now = Date.now();
    const xml = await signedByCorp({ issueInstant: new Date(now - 10 * MINUTE), notBefore: new Date(now - 10 * MINUTE), notOnOrAfter: new Date(now - 2 * MINUTE) });
    await expectRefused('corp', xml, 'expired');
  });

  // node-saml parsed Conditions/@NotOnOrAfter and Assertion/@IssueInstant whenever Conditions
  // carried an attribute, and refused the response when either was missing or no date.
  /** A corp response to a fresh request, `edit`ed before corp signs its assertion. */
  const signedAfter = async (edit: (xml: string) => string) => {
    const xml = edit(corp.responseXml({ inResponseTo: await requestId() }));
    return signElement(xml, 'Assertion', corp.key);
  };

  it('refuses Conditions with a NotBefore but no NotOnOrAfter (conditions_invalid)', async () => {
    const xml = await signedAfter((unsigned) => unsigned.replace(/(<saml:Conditions NotBefore="[^"]+") NotOnOrAfter="[^"]+"/, '$1'));
    expect(xml).toMatch(/<saml:Conditions NotBefore="[^"]+">/);
    await expectRefused('corp', xml, 'conditions_invalid');
  });

  it('refuses Conditions whose NotOnOrAfter is no date (conditions_invalid)', async () => {
    await expectRefused('corp', await signedAfter((unsigned) => unsigned.replace(/(<saml:Conditions NotBefore="[^"]+") NotOnOrAfter="[^"]+"/, '$1 NotOnOrAfter="soon"')), 'conditions_invalid');
  });

  for (const [what, issueInstant] of [
    ['without an IssueInstant', ''],
    ['whose IssueInstant is no date', ' IssueInstant="yesterday"'],
  ] as const) {
    it(`refuses an assertion ${what} (issue_instant_invalid)`, async () => {
      const xml = await signedAfter((unsigned) => unsigned.replace(/(<saml:Assertion ID="[^"]+" Version="2.0") IssueInstant="[^"]+"/, `$1${issueInstant}`));
      expect(xml).not.toMatch(/<saml:Assertion [^>]*IssueInstant="\d/);
      await expectRefused('corp', xml, 'issue_instant_invalid');
    });
  }
});

describe('InResponseTo', () => {
  it('refuses an InResponseTo this SP never issued', async () => {
    await expectRefused('corp', corp.signedResponse({ inResponseTo: newSamlId() }), 'in_response_to_unknown');
  });

  it('refuses a response without InResponseTo (unsolicited)', async () => {
    const xml = corp.signedResponse({});
    expect(xml).not.toContain('InResponseTo');
    await expectRefused('corp', xml, 'unsolicited_response');
  });

  it('refuses a second, freshly signed response (new assertion ID) to a request that already completed a login', async () => {
    const id = await requestId();
    await expectAccepted('corp', corp.signedResponse({ inResponseTo: id }));
    await expectRefused('corp', corp.signedResponse({ inResponseTo: id }), 'in_response_to_unknown');
  });

  it('refuses a signed assertion for one request re-bound to a fresh request via the unsigned Response/@InResponseTo', async () => {
    const old = await requestId();
    const fresh = await requestId();
    const xml = corp.signedResponse({ inResponseTo: old }).replace(` InResponseTo="${old}"`, ` InResponseTo="${fresh}"`);
    expect(xml).toContain(`InResponseTo="${fresh}"`);
    expect(xml).toContain(`InResponseTo="${old}"`);
    await expectRefused('corp', xml, 'in_response_to_unknown');
  });
});

describe('replay', () => {
  it('refuses the exact response that was just accepted when it is posted again', async () => {
    const xml = await signedByCorp();
    await expectAccepted('corp', xml);
    await expectRefused('corp', xml, 'in_response_to_unknown', 'replay');
  });

  it('signs in through an IdP that leaves InResponseTo off SubjectConfirmationData', async () => {
    await expectAccepted('corp', await signedByCorp({ confirmationInResponseTo: false }));
  });

  it('refuses such an assertion re-bound to a fresh login through the unsigned Response/@InResponseTo (only the replay cache can)', async () => {
    const old = await requestId();
    const xml = corp.signedResponse({ inResponseTo: old, confirmationInResponseTo: false });
    await expectAccepted('corp', xml);
    const fresh = await requestId();
    const rebound = xml.replace(`InResponseTo="${old}"`, `InResponseTo="${fresh}"`);
    expect(rebound).toContain(`InResponseTo="${fresh}"`);
    expect(rebound).not.toContain(old);
    await expectRefused('corp', rebound, 'replay');
  });
});

describe('Destination and Recipient', () => {
  it('refuses a Response/@Destination that is not this ACS', async () => {
    await expectRefused('corp', await signedByCorp({ destination: 'https://evil.example/acs' }), 'destination_mismatch');
  });

  it("refuses a Response/@Destination naming another IdP's ACS on this server", async () => {
    await expectRefused('corp', await signedByCorp({ destination: partner.acsUrl }), 'destination_mismatch');
  });

  it('refuses a bearer SubjectConfirmationData/@Recipient that is not this ACS', async () => {
    await expectRefused('corp', await signedByCorp({ recipient: 'https://evil.example/acs' }), 'recipient_mismatch');
  });

  it("refuses a Recipient naming another IdP's ACS on this server", async () => {
    await expectRefused('corp', await signedByCorp({ recipient: partner.acsUrl }), 'recipient_mismatch');
  });
});

// Okta, ADFS and Shibboleth start their responses with an XML declaration; xmldom reports it
// as a processing instruction, and every real processing instruction is refused.
describe('the XML declaration', () => {
  const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

  for (const declaration of [DECLARATION, "<?xml version='1.0' encoding='utf-8' standalone='no' ?>\n", '<?xml version="1.0"?>']) {
    it(`accepts a signed response starting with ${declaration.trim()}`, async () => {
      await expectAccepted('corp', declaration + (await bothSignedByCorp()));
    });
  }

  for (const [what, edit] of [
    ['a processing instruction after the declaration', (xml: string) => `${DECLARATION}<?evil x?>${xml}`],
    ['a second XML declaration', (xml: string) => `${DECLARATION}${DECLARATION}${xml}`],
    ['a declaration after leading whitespace', (xml: string) => ` ${DECLARATION}${xml}`],
    ['a declaration of another encoding', (xml: string) => `<?xml version="1.0" encoding="ISO-8859-1"?>${xml}`],
    ['a processing instruction inside the assertion', (xml: string) => `${DECLARATION}${xml.replace('<saml:Subject>', '<?evil x?><saml:Subject>')}`],
  ] as const) {
    it(`refuses ${what} (xml_processing_instruction)`, async () => {
      await expectRefused('corp', edit(await signedByCorp()), 'xml_processing_instruction');
    });
  }
});

// xml-crypto's exclusive C14N skips every attribute whose name starts with "xmlns", so one
// that is no namespace declaration lies outside the signature while xmldom reads it.
describe('attributes named like namespace declarations', () => {
  for (const [where, element] of [
    ['the signed Assertion', '<saml:Assertion '],
    ['the signed NameID', '<saml:NameID '],
  ] as const) {
    it(`refuses an xmlnsEvil attribute added to ${where} after signing (malformed_xml)`, async () => {
      const xml = (await signedByCorp()).replace(element, `${element}xmlnsEvil="x" `);
      expect(xml).toContain('xmlnsEvil="x"');
      await expectRefused('corp', xml, 'malformed_xml');
    });
  }

  it('refuses an XMLNSEvil attribute, whatever its case (malformed_xml)', async () => {
    await expectRefused('corp', (await signedByCorp()).replace('<saml:Assertion ', '<saml:Assertion XMLNSEvil="x" '), 'malformed_xml');
  });
});

describe('cross-IdP', () => {
  it("refuses corp's signed response (request started at corp) posted to partner's ACS", async () => {
    await expectRefused('partner', await signedByCorp(), 'in_response_to_unknown');
  });

  it("refuses a corp-signed response addressed to partner (request started at partner) at partner's ACS", async () => {
    const xml = signElement(
      buildResponseXml({
        issuer: corp.issuer,
        destination: partner.acsUrl,
        recipient: partner.acsUrl,
        audience: partner.spEntityId,
        inResponseTo: await requestId('partner'),
        nameId: ADMIN,
        attributes: { email: ADMIN },
      }),
      'Assertion',
      corp.key,
    );
    await expectRefused('partner', xml, SIGNATURE);
  });

  it("refuses a corp-signed response claiming partner's issuer (request started at partner) at partner's ACS", async () => {
    const xml = signElement(
      partner.responseXml({ inResponseTo: await requestId('partner'), nameId: ADMIN, attributes: { email: ADMIN } }),
      'Assertion',
      corp.key,
    );
    await expectRefused('partner', xml, SIGNATURE);
  });
});

function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
