import { verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { checkXmlShape } from './raw-response.js';
import { SamlRejection } from './refusal.js';
import type { XmlBounds } from './xml-bounds.js';
import { childElements, pathElements, SAML_NS as NS, timestamp } from './xml-read.js';
import { envelopedSignatureOf, verifyEnvelopedSignature } from './xml-signature.js';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * The largest logout message accepted, decoded and inflated. A signed LogoutRequest with
 * its certificate and a few SessionIndexes is under 5 KiB.
 */
const MAX_MESSAGE_BYTES = 32 * 1024;
const MAX_FIELD_LENGTH = Math.ceil(MAX_MESSAGE_BYTES / 3) * 4;
/** A signed LogoutRequest holds about 15 elements: a wide margin, far below what costs. */
const MESSAGE_BOUNDS: XmlBounds = { maxElements: 100, maxDepth: 16, maxAttributesPerElement: 20, maxAttributes: 400 };
const MAX_SESSION_INDEXES = 20;

/**
 * How long after its IssueInstant a logout message is accepted (beside clock skew): the
 * bound of the replay cache entry its ID takes. A LogoutRequest travels one redirect.
 */
export const MAX_MESSAGE_AGE_MS = 5 * 60_000;

/**
 * Signature algorithms of the HTTP-Redirect binding (SAML Bindings §3.4.4.1) we accept:
 * RSA and ECDSA with SHA-256 or SHA-512. SHA-1 is refused. An XML-DSig ECDSA signature
 * is r||s, each padded to the curve's size (RFC 4050 §3.3, XML Signature 1.1 §6.4.3),
 * not the DER sequence node:crypto verifies by default.
 */
const REDIRECT_ALGORITHMS: ReadonlyMap<string, { hash: string; dsaEncoding?: 'ieee-p1363' }> = new Map([
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', { hash: 'sha256' }],
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha512', { hash: 'sha512' }],
  ['http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256', { hash: 'sha256', dsaEncoding: 'ieee-p1363' }],
  ['http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512', { hash: 'sha512', dsaEncoding: 'ieee-p1363' }],
] as const);

const REDIRECT_PARAMETERS = new Set(['SAMLRequest', 'SAMLResponse', 'RelayState', 'SigAlg', 'Signature']);

export type LogoutBinding = 'redirect' | 'post';

interface MessageBase {
  id: string;
  issuedAt: number;
  binding: LogoutBinding;
  /** As the IdP sent it (opaque to us, echoed back with our answer, never shown or followed). */
  relayState: string | null;
}

export interface LogoutRequestMessage extends MessageBase {
  kind: 'request';
  nameId: string;
  sessionIndexes: string[];
}

export interface LogoutResponseMessage extends MessageBase {
  kind: 'response';
  inResponseTo: string;
  success: boolean;
}

export type LogoutMessage = LogoutRequestMessage | LogoutResponseMessage;

/** What a logout message must be to be this IdP's, for us, now. */
export interface LogoutExpectations {
  idpIssuer: string;
  /** The IdP's certificates' keys: the only keys a logout message may be signed with. */
  idpKeys: readonly KeyObject[];
  /** Our SingleLogoutService URL: the message's Destination. */
  destination: string;
  nowMs: number;
  skewMs: number;
}

/**
 * A logout message in the HTTP-Redirect binding, from the raw query string: the
 * signature covers the parameters exactly as they were encoded (Bindings §3.4.4.1), so
 * they are read from the raw string, not from a parsed and re-encoded copy. node-saml's
 * own check accepts a message with no Signature parameter at all, and inflates with no
 * bound: neither here.
 */
export function readRedirectMessage(rawQuery: string, expected: LogoutExpectations): LogoutMessage {
  const params = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    const equals = pair.indexOf('=');
    const name = decodeFormComponent(equals === -1 ? pair : pair.slice(0, equals));
    if (!REDIRECT_PARAMETERS.has(name)) continue;
    // Two of one parameter: which one a verifier and a reader take could differ.
    if (params.has(name)) throw new SamlRejection('message_missing');
    params.set(name, equals === -1 ? '' : pair.slice(equals + 1));
  }
  const messageName = params.has('SAMLRequest') ? 'SAMLRequest' : 'SAMLResponse';
  const message = params.get(messageName);
  if (message === undefined || (params.has('SAMLRequest') && params.has('SAMLResponse'))) throw new SamlRejection('message_missing');
  if (message.length > MAX_FIELD_LENGTH * 3) throw new SamlRejection('message_too_large');
  const sigAlg = params.get('SigAlg');
  const signature = params.get('Signature');
  if (sigAlg === undefined || signature === undefined) throw new SamlRejection('unsigned');

  const relayState = params.get('RelayState');
  const signed = [`${messageName}=${message}`, ...(relayState === undefined ? [] : [`RelayState=${relayState}`]), `SigAlg=${sigAlg}`].join('&');
  const algorithm = REDIRECT_ALGORITHMS.get(decodeFormComponent(sigAlg));
  if (!algorithm) throw new SamlRejection('signature_invalid');
  const signatureBytes = Buffer.from(decodeFormComponent(signature), 'base64');
  if (!expected.idpKeys.some((key) => safeVerify(algorithm, signed, key, signatureBytes))) throw new SamlRejection('signature_invalid');

  const xml = inflateBounded(Buffer.from(decodeFormComponent(message), 'base64'));
  return readMessage(checkXmlShape(xml, MESSAGE_BOUNDS).documentElement, expected, { binding: 'redirect', relayState: relayState === undefined ? null : decodeFormComponent(relayState) });
}

/**
 * A logout message in the HTTP-POST binding: the XML carries an enveloped signature over
 * the whole message, verified as a response's is (xml-signature.ts: one signature, one
 * reference, to the root); the fields are then read from the root that signature covers.
 */
export function readPostMessage(body: Record<string, unknown> | undefined, expected: LogoutExpectations): LogoutMessage {
  const request = body?.SAMLRequest;
  const response = body?.SAMLResponse;
  const message = request ?? response;
  if (typeof message !== 'string' || message.length === 0 || (request !== undefined && response !== undefined)) throw new SamlRejection('message_missing');
  if (message.length > MAX_FIELD_LENGTH) throw new SamlRejection('message_too_large');
  const root = checkXmlShape(Buffer.from(message, 'base64').toString('utf8'), MESSAGE_BOUNDS).documentElement;
  const signature = envelopedSignatureOf(root);
  if (!signature) throw new SamlRejection('unsigned');
  verifyEnvelopedSignature(root, signature, expected.idpKeys);
  const relayState = typeof body?.RelayState === 'string' ? body.RelayState : null;
  return readMessage(root, expected, { binding: 'post', relayState });
}

/** The checks node-saml leaves out of logout messages: Destination, Issuer on every kind, IssueInstant, the NameID's form. */
function readMessage(root: Element, expected: LogoutExpectations, transport: { binding: LogoutBinding; relayState: string | null }): LogoutMessage {
  if (root.namespaceURI !== NS.samlp || (root.localName !== 'LogoutRequest' && root.localName !== 'LogoutResponse')) throw new SamlRejection('not_a_logout_message');
  const id = root.getAttribute('ID');
  if (!id) throw new SamlRejection('not_a_logout_message');
  const issuers = childElements(root, NS.saml, 'Issuer');
  if (issuers.length !== 1 || issuers[0]!.textContent?.trim() !== expected.idpIssuer) throw new SamlRejection('issuer_mismatch');
  // Bindings §3.4.5.2 and §3.5.5.2: a signed message carries its Destination, and it must be the endpoint it arrived at.
  if (root.getAttribute('Destination') !== expected.destination) throw new SamlRejection('destination_mismatch');
  const issuedAt = timestamp(root.getAttribute('IssueInstant'));
  if (issuedAt === null) throw new SamlRejection('issue_instant_invalid');
  if (issuedAt > expected.nowMs + expected.skewMs) throw new SamlRejection('not_yet_valid');
  if (expected.nowMs - expected.skewMs > issuedAt + MAX_MESSAGE_AGE_MS) throw new SamlRejection('expired');
  const base = { id, issuedAt, ...transport };

  if (root.localName === 'LogoutResponse') {
    const inResponseTo = root.getAttribute('InResponseTo');
    if (!inResponseTo) throw new SamlRejection('in_response_to_unknown');
    const status = pathElements(root, NS.samlp, 'Status/StatusCode');
    return { kind: 'response', ...base, inResponseTo, success: status.length === 1 && status[0]!.getAttribute('Value') === SUCCESS };
  }

  if (root.hasAttribute('NotOnOrAfter')) {
    const until = timestamp(root.getAttribute('NotOnOrAfter'));
    if (until === null || expected.nowMs - expected.skewMs >= until) throw new SamlRejection('expired');
  }
  const nameIds = childElements(root, NS.saml, 'NameID');
  // One plain text node, as at sign-in: an EncryptedID, or a NameID split by a comment, names nobody we can trust.
  if (nameIds.length !== 1 || nameIds[0]!.childNodes.length !== 1 || nameIds[0]!.firstChild?.nodeType !== 3) throw new SamlRejection('name_id_invalid');
  const nameId = nameIds[0]!.textContent ?? '';
  if (nameId.trim() === '') throw new SamlRejection('name_id_invalid');
  const sessionIndexes = childElements(root, NS.samlp, 'SessionIndex').map((index) => (index.textContent ?? '').trim());
  if (sessionIndexes.length > MAX_SESSION_INDEXES || sessionIndexes.includes('')) throw new SamlRejection('not_a_logout_message');
  return { kind: 'request', ...base, nameId, sessionIndexes };
}

/**
 * Inflates with a hard limit on the output: a few kilobytes of deflate can expand to
 * gigabytes, and a limit checked after inflating comes too late.
 */
function inflateBounded(deflated: Buffer): string {
  try {
    return inflateRawSync(deflated, { maxOutputLength: MAX_MESSAGE_BYTES }).toString('utf8');
  } catch (error) {
    if (error instanceof RangeError) throw new SamlRejection('message_too_large');
    throw new SamlRejection('malformed_xml');
  }
}

function safeVerify({ hash, dsaEncoding }: { hash: string; dsaEncoding?: 'ieee-p1363' }, signed: string, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify(hash, Buffer.from(signed, 'utf8'), dsaEncoding ? { key, dsaEncoding } : key, signature);
  } catch {
    return false;
  }
}

/** application/x-www-form-urlencoded decoding of one component ('+' is a space). */
function decodeFormComponent(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new SamlRejection('message_missing');
  }
}
