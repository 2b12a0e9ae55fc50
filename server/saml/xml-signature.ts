import { constants, createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ExclusiveCanonicalization } from 'xml-crypto';
import type { NamespacePrefix } from 'xml-crypto';
import { SamlRejection } from './refusal.js';
import { elementChildren } from './xml-read.js';

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = `${DSIG}enveloped-signature`;
const XMLNS = 'http://www.w3.org/2000/xmlns/';
const ELEMENT = 1;

/**
 * The signature algorithms accepted: RSA with SHA-256 or SHA-512, PKCS#1 v1.5 or PSS
 * (RFC 6931 §2.3.10: MGF1 with the same digest, a salt as long as it). SHA-1 (rsa-sha1)
 * is refused: chosen-prefix collisions are practical (SHAttered 2017, Shambles 2020), and
 * no IdP we know of needs it today. xml-crypto accepted it by default. A Map, not an
 * object: an object's lookup would find Algorithm="constructor" or "__proto__" too.
 */
const SIGNATURE_METHODS: ReadonlyMap<string, { hash: string; padding?: number }> = new Map([
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', { hash: 'sha256' }],
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha512', { hash: 'sha512' }],
  ['http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1', { hash: 'sha256', padding: constants.RSA_PKCS1_PSS_PADDING }],
]);

/** Reference digests accepted: SHA-256 and SHA-512 (SHA-1 refused, as above). */
const DIGEST_METHODS: ReadonlyMap<string, string> = new Map([
  ['http://www.w3.org/2001/04/xmlenc#sha256', 'sha256'],
  ['http://www.w3.org/2001/04/xmlenc#sha512', 'sha512'],
]);

/**
 * The most prefixes an InclusiveNamespaces PrefixList may name. IdPs name a few (xs, xsi);
 * canonicalisation looks each one up on every element it renders, so a long list makes
 * verification cost grow with the list times the document.
 */
const MAX_INCLUSIVE_PREFIXES = 32;

/** Attribute names xml-crypto resolves a Reference URI against: one element in the whole document may carry the signed ID under any of them. */
const ID_NAMES = new Set(['ID', 'Id', 'id']);

/**
 * The one ds:Signature child of `signed` (an enveloped signature sits directly in the element
 * it signs: SAML Core §5.4.1), or null when it has none. Two are refused: which one a
 * reader would trust is a guess.
 */
export function envelopedSignatureOf(signed: Element): Element | null {
  const signatures = elementChildren(signed).filter((child) => child.namespaceURI === DSIG && child.localName === 'Signature');
  if (signatures.length > 1) throw invalid('more than one Signature in the signed element');
  return signatures[0] ?? null;
}

/**
 * Verifies the enveloped XML-DSig `signature` of `signed` on the DOM already built (no
 * second parse), as SAML Core §5.4 profiles it, and throws `signature_invalid` otherwise.
 * Only what the profile allows is accepted, so no transform, reference or key can point
 * the signature at anything but `signed`:
 * - exactly one Reference, whose URI is `#` + `signed`'s ID, an ID no other element of the
 *   document carries (under ID, Id or id): a second element with the signed ID is the
 *   signature-wrapping lever (XSW, Somorovsky et al., USENIX Security 2012);
 * - exactly the transforms enveloped-signature then exclusive C14N (with an optional
 *   InclusiveNamespaces PrefixList), exclusive C14N for SignedInfo: no inclusive or
 *   with-comments canonicalisation, no XPath or XSLT transform;
 * - the Signature holds SignedInfo, SignatureValue and at most a KeyInfo (no Object, where
 *   XSW8 hides the original), SignedInfo exactly its three children, each once (the second
 *   SignedInfo of CVE-2025-29774 is refused here);
 * - the key is one of `keys` (the IdP's configured or metadata certificates): KeyInfo is
 *   never read, so a certificate the sender embeds is never trusted.
 * The caller then reads only from `signed` itself (never from the Signature inside it,
 * which the enveloped transform leaves out of what is signed).
 */
export function verifyEnvelopedSignature(signed: Element, signature: Element, keys: readonly KeyObject[]): void {
  const [signedInfo, signatureValue, keyInfo, ...extra] = dsChildren(signature);
  if (signedInfo?.localName !== 'SignedInfo' || signatureValue?.localName !== 'SignatureValue' || (keyInfo && keyInfo.localName !== 'KeyInfo') || extra.length > 0)
    throw invalid('the Signature is not SignedInfo, SignatureValue and at most a KeyInfo (multiple SignedInfo, an Object, or out of order)');

  const [canonicalization, method, reference, ...more] = dsChildren(signedInfo);
  if (canonicalization?.localName !== 'CanonicalizationMethod' || method?.localName !== 'SignatureMethod' || reference?.localName !== 'Reference' || more.length > 0)
    throw invalid('SignedInfo is not CanonicalizationMethod, SignatureMethod and exactly one Reference');
  const signedInfoPrefixes = exclusiveC14nPrefixes(canonicalization);
  const algorithm = SIGNATURE_METHODS.get(method.getAttribute('Algorithm') ?? '');
  if (!algorithm || hasChildElements(method)) throw invalid('signature algorithm not accepted');

  const id = signed.getAttribute('ID');
  if (!id || reference.getAttribute('URI') !== `#${id}`) throw invalid('the Reference URI is not the ID of the signed element');
  if (elementsCarryingId(signed.ownerDocument, id) !== 1) throw invalid('the signed ID is carried by more than one element');
  const [transforms, digestMethod, digestValue, ...rest] = dsChildren(reference);
  if (transforms?.localName !== 'Transforms' || digestMethod?.localName !== 'DigestMethod' || digestValue?.localName !== 'DigestValue' || rest.length > 0)
    throw invalid('the Reference is not Transforms, DigestMethod and DigestValue');
  const [enveloped, exclusive, ...otherTransforms] = dsChildren(transforms);
  if (enveloped?.localName !== 'Transform' || enveloped.getAttribute('Algorithm') !== ENVELOPED || !withoutParameters(enveloped) || exclusive?.localName !== 'Transform' || otherTransforms.length > 0)
    throw invalid('the transforms are not enveloped-signature then exclusive C14N');
  const referencePrefixes = exclusiveC14nPrefixes(exclusive);
  const digest = DIGEST_METHODS.get(digestMethod.getAttribute('Algorithm') ?? '');
  if (!digest || hasChildElements(digestMethod)) throw invalid('digest algorithm not accepted');

  const signatureBytes = base64Text(signatureValue);
  const signedInfoBytes = Buffer.from(canonicalize(signedInfo, signedInfoPrefixes, null), 'utf8');
  const options = (key: KeyObject) => (algorithm.padding === undefined ? key : { key, padding: algorithm.padding, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  // An RSA method is checked with RSA keys only: node:crypto would check an EC key's signature under the same name.
  const rsaKeys = keys.filter((key) => key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss');
  if (!rsaKeys.some((key) => verifiesWith(algorithm.hash, signedInfoBytes, options(key), signatureBytes))) throw invalid('the SignatureValue does not verify with any trusted certificate');

  const computed = createHash(digest).update(canonicalize(signed, referencePrefixes, signature), 'utf8').digest();
  if (!computed.equals(base64Text(digestValue))) throw invalid('the digest of the signed element does not match');
}

/** IdP certificates as public keys, each parsed once rather than on every verification. */
export class CertificateKeys {
  /** Certificates come from the config and from IdP metadata, which a refresh can change: bounded, so a long run of rotations cannot grow it. */
  private static readonly MAX = 64;
  private readonly keys = new Map<string, KeyObject | null>();

  /** The keys of `certificates` (PEM); a certificate that holds no usable key is left out. */
  of(certificates: readonly string[]): KeyObject[] {
    return certificates.map((pem) => this.keyOf(pem)).filter((key): key is KeyObject => key !== null);
  }

  private keyOf(pem: string): KeyObject | null {
    if (!this.keys.has(pem)) {
      if (this.keys.size >= CertificateKeys.MAX) this.keys.clear();
      this.keys.set(pem, attempt(() => createPublicKey(pem)));
    }
    return this.keys.get(pem)!;
  }
}

function invalid(detail: string): SamlRejection {
  return new SamlRejection('signature_invalid', detail);
}

/**
 * The child elements of a ds: structure element (Signature, SignedInfo, Reference,
 * Transforms), in order. The schema gives them only ds: children: any other element, or
 * text other than whitespace between them, is refused rather than skipped.
 */
function dsChildren(parent: Element): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === ELEMENT) {
      if ((node as Element).namespaceURI !== DSIG) throw invalid(`an element of another namespace in ${parent.localName}`);
      found.push(node as Element);
    } else if ((node.nodeValue ?? '').trim() !== '') {
      throw invalid(`text in ${parent.localName}`);
    }
  }
  return found;
}

/**
 * The PrefixList of an exclusive C14N method (CanonicalizationMethod or Transform), which
 * must be exclusive C14N without comments (comments are refused in a response anyway:
 * raw-response.ts) and may hold one InclusiveNamespaces.
 */
function exclusiveC14nPrefixes(method: Element): string[] {
  if (method.getAttribute('Algorithm') !== EXC_C14N) throw invalid('canonicalization is not exclusive C14N');
  const children = elementChildren(method);
  if (children.length === 0) return [];
  const [inclusive] = children;
  if (children.length !== 1 || inclusive!.namespaceURI !== EXC_C14N || inclusive!.localName !== 'InclusiveNamespaces') throw invalid('exclusive C14N takes only an InclusiveNamespaces');
  const prefixes = (inclusive!.getAttribute('PrefixList') ?? '').split(/\s+/).filter((prefix) => prefix !== '');
  if (prefixes.length > MAX_INCLUSIVE_PREFIXES) throw invalid('the InclusiveNamespaces PrefixList names too many prefixes');
  return prefixes;
}

/**
 * Exclusive C14N (xml-crypto's) of `element` as it sits in its document, less `without` (the
 * enveloped signature, taken out of the document meanwhile: no copy of the element is
 * made). xml-crypto declares the inherited namespaces of the inclusive prefixes on the
 * element it is given; those declarations are taken off again, so the document read
 * afterwards is the one parsed.
 */
function canonicalize(element: Element, inclusivePrefixes: string[], without: Element | null): string {
  const inherited = inclusivePrefixes.length === 0 ? [] : inheritedNamespaces(element).filter(({ prefix }) => inclusivePrefixes.includes(prefix));
  const next = without?.nextSibling ?? null;
  if (without) element.removeChild(without);
  try {
    return new ExclusiveCanonicalization().process(element, { inclusiveNamespacesPrefixList: inclusivePrefixes, ancestorNamespaces: inherited });
  } catch {
    throw invalid(`${element.localName} cannot be canonicalised`);
  } finally {
    for (const { prefix } of inherited) element.removeAttributeNS(XMLNS, prefix);
    if (without) element.insertBefore(without, next);
  }
}

/**
 * The namespace bindings `element` inherits from its ancestors (the nearest binding of each
 * prefix), less those it declares or uses as its own prefix: what an InclusiveNamespaces
 * prefix may bring onto the canonical form (Exclusive XML Canonicalization §3), as xml-crypto's
 * own verification computes them.
 */
function inheritedNamespaces(element: Element): NamespacePrefix[] {
  const own = new Set([element.prefix ?? '']);
  for (const attribute of Array.from(element.attributes)) if (attribute.namespaceURI === XMLNS) own.add(attribute.prefix ? attribute.localName : '');
  const found = new Map<string, string>();
  for (let ancestor = element.parentNode; ancestor && ancestor.nodeType === ELEMENT; ancestor = ancestor.parentNode) {
    for (const attribute of Array.from((ancestor as Element).attributes)) {
      if (attribute.namespaceURI !== XMLNS) continue;
      const prefix = attribute.prefix ? attribute.localName : '';
      if (!found.has(prefix)) found.set(prefix, attribute.value);
    }
  }
  return [...found].filter(([prefix, uri]) => uri !== '' && !own.has(prefix)).map(([prefix, namespaceURI]) => ({ prefix, namespaceURI }));
}

/** How many elements of `doc` carry `id` under one of the ID attribute names. */
function elementsCarryingId(doc: Document, id: string): number {
  let count = 0;
  const pending: Node[] = [doc.documentElement];
  while (pending.length > 0) {
    const element = pending.pop() as Element;
    for (const attribute of Array.from(element.attributes)) if (ID_NAMES.has(attribute.localName) && attribute.value === id) count++;
    pending.push(...elementChildren(element));
  }
  return count;
}

/**
 * Whether a transform that takes no parameter (enveloped-signature) has none. xml-crypto's
 * signer writes the exclusive C14N PrefixList into every transform of a reference, so an
 * InclusiveNamespaces alone is tolerated there, and ignored as xml-crypto ignores it.
 */
function withoutParameters(transform: Element): boolean {
  const children = elementChildren(transform);
  return children.length === 0 || (children.length === 1 && children[0]!.localName === 'InclusiveNamespaces' && !hasChildElements(children[0]!));
}

function hasChildElements(element: Element): boolean {
  return elementChildren(element).length > 0;
}

/** A base64 value as XML-DSig writes it (whitespace allowed between characters); anything else is refused. */
function base64Text(element: Element): Buffer {
  if (hasChildElements(element)) throw invalid(`${element.localName} holds elements`);
  const text = (element.textContent ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw invalid(`${element.localName} is not base64`);
  return Buffer.from(text, 'base64');
}

function verifiesWith(hash: string, data: Buffer, key: KeyObject | { key: KeyObject; padding: number; saltLength: number }, signature: Buffer): boolean {
  return attempt(() => verify(hash, data, key, signature)) === true;
}

function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}
