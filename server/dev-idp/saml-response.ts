import { randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';

/**
 * Builds and signs SAML 2.0 Responses the way an IdP does (Web Browser SSO profile,
 * HTTP-POST binding). The development IdP uses it, and so do the tests, which then
 * tamper with its output to build attack cases.
 */
export interface AssertionSpec {
  issuer: string;
  /** Response/@Destination: the ACS URL the response is meant for. */
  destination: string;
  /** SubjectConfirmationData/@Recipient. */
  recipient: string;
  audience: string;
  inResponseTo?: string;
  /** Repeat InResponseTo on SubjectConfirmationData (default true; some IdPs leave it out). */
  confirmationInResponseTo?: boolean;
  nameId: string;
  nameIdFormat?: string;
  attributes?: Record<string, string | string[]>;
  /** Defaults: now; NotBefore now − 1 min; NotOnOrAfter now + 5 min. */
  issueInstant?: Date;
  notBefore?: Date;
  notOnOrAfter?: Date;
  assertionId?: string;
  responseId?: string;
}

const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

export function newSamlId(): string {
  // XML IDs must not start with a digit.
  return `_${randomBytes(20).toString('hex')}`;
}

export function buildResponseXml(spec: AssertionSpec): string {
  const now = spec.issueInstant ?? new Date();
  const notBefore = spec.notBefore ?? new Date(now.getTime() - 60_000);
  const notOnOrAfter = spec.notOnOrAfter ?? new Date(now.getTime() + 5 * 60_000);
  const inResponseTo = spec.inResponseTo === undefined ? '' : ` InResponseTo="${escape(spec.inResponseTo)}"`;
  const confirmationInResponseTo = spec.confirmationInResponseTo === false ? '' : inResponseTo;
  const attributes = Object.entries(spec.attributes ?? {})
    .map(
      ([name, value]) =>
        `<saml:Attribute Name="${escape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${(Array.isArray(value) ? value : [value])
          .map((v) => `<saml:AttributeValue>${escape(v)}</saml:AttributeValue>`)
          .join('')}</saml:Attribute>`,
    )
    .join('');
  return (
    `<samlp:Response xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${spec.responseId ?? newSamlId()}" Version="2.0" IssueInstant="${iso(now)}" Destination="${escape(spec.destination)}"${inResponseTo}>` +
    `<saml:Issuer>${escape(spec.issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    `<saml:Assertion ID="${spec.assertionId ?? newSamlId()}" Version="2.0" IssueInstant="${iso(now)}">` +
    `<saml:Issuer>${escape(spec.issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${spec.nameIdFormat ?? EMAIL_FORMAT}">${escape(spec.nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${iso(notOnOrAfter)}" Recipient="${escape(spec.recipient)}"${confirmationInResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${iso(notBefore)}" NotOnOrAfter="${iso(notOnOrAfter)}"><saml:AudienceRestriction><saml:Audience>${escape(spec.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${newSamlId()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    `</saml:Assertion></samlp:Response>`
  );
}

export interface SigningKey {
  privateKey: string;
  cert: string;
}

/** How a signature is made. The defaults are what IdPs send; tests vary them to check what is refused. */
export interface SignatureProfile {
  signatureAlgorithm: string;
  digestAlgorithm: string;
  /** SignedInfo's CanonicalizationMethod. */
  canonicalizationAlgorithm: string;
  transforms: string[];
  /** The InclusiveNamespaces PrefixList of the reference's exclusive C14N transform. */
  inclusivePrefixes: string[];
}

const SIGNATURE_PROFILE: SignatureProfile = {
  signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  inclusivePrefixes: [],
};

/**
 * Enveloped signature (RSA-SHA256 unless `profile` says otherwise) over the element with
 * `localName`, placed right after its Issuer as the SAML schema requires.
 */
export function signElement(xml: string, localName: 'Assertion' | 'Response' | 'LogoutRequest' | 'LogoutResponse', key: SigningKey, profile: Partial<SignatureProfile> = {}): string {
  const { signatureAlgorithm, digestAlgorithm, canonicalizationAlgorithm, transforms, inclusivePrefixes } = { ...SIGNATURE_PROFILE, ...profile };
  const sig = new SignedXml({ privateKey: key.privateKey, publicCert: key.cert, signatureAlgorithm, canonicalizationAlgorithm });
  const element = `//*[local-name(.)='${localName}']`;
  sig.addReference({ xpath: element, transforms, digestAlgorithm, inclusiveNamespacesPrefixList: inclusivePrefixes });
  sig.computeSignature(xml, { location: { reference: `${element}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

/** A signed response as the HTTP-POST binding carries it: base64 in the SAMLResponse form field. */
export function encodeForPost(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
