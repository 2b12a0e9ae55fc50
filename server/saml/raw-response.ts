import { DOMParser } from '@xmldom/xmldom';
import { SamlRejection } from './refusal.js';
import { exceededBound } from './xml-bounds.js';
import type { XmlBounds } from './xml-bounds.js';

const ELEMENT = 1;
const COMMENT = 8;
const PROCESSING_INSTRUCTION = 7;
const DOCUMENT_TYPE = 10;
const XMLNS = 'http://www.w3.org/2000/xmlns/';

/**
 * The largest response accepted, decoded. A response with 200 groups named by their
 * distinguished names, both signatures and their certificates is about 57 KiB.
 */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/** The same limit on the base64 form field (4 characters per 3 bytes, plus padding). */
const MAX_RESPONSE_FIELD_LENGTH = Math.ceil(MAX_RESPONSE_BYTES / 3) * 4;

/**
 * The response's shape, bounded before any DOM is built. A large real response, 200
 * groups with both the Response and the Assertion signed and every AttributeValue carrying
 * its own xmlns:xs, xmlns:xsi and xsi:type (as Okta and ADFS send them), holds 256
 * elements and 661 XML attributes, nested 7 deep, at most 7 attributes on one element:
 * these limits leave a margin of about 4 times and more. Past them, what node-saml and
 * xml-crypto do with the document grows faster than linearly (measured here: 1,000 empty
 * elements cost about 50 ms of event loop, 10,000 over a second, 62,000 over a minute).
 */
const RESPONSE_BOUNDS: XmlBounds = { maxElements: 1_000, maxDepth: 32, maxAttributesPerElement: 40, maxAttributes: 4_000 };

/**
 * Checks on the posted response before any signature code sees it: its size and shape
 * first (cheap, no DOM), then, on a DOM of a document known to be small: IdPs emit
 * neither comments, processing instructions nor DTDs in a Response, and each has been the
 * lever of a signature or identity bypass: comments split a NameID (CVE-2017-11428 class)
 * or a DigestValue (CVE-2025-29775); a DTD brings entity expansion. Refusing them outright
 * means no later parser can disagree about what they mean. A leading XML declaration is
 * no processing instruction, and is accepted (withoutXmlDeclaration).
 */
export function checkRawResponse(samlResponse: unknown): Document {
  if (typeof samlResponse !== 'string' || samlResponse.length === 0) throw new SamlRejection('response_missing');
  if (samlResponse.length > MAX_RESPONSE_FIELD_LENGTH) throw new SamlRejection('response_too_large');
  return checkedXml(Buffer.from(samlResponse, 'base64').toString('utf8'));
}

/**
 * The response's checks on any XML a response brings, the decrypted plaintext of an
 * EncryptedAssertion included (its markup was base64 inside the response: no bound
 * applied to it yet).
 */
export function checkedXml(xml: string): Document {
  return checkXmlShape(xml, RESPONSE_BOUNDS);
}

/**
 * The same checks on any SAML message already decoded, within `bounds`. Returns the DOM,
 * built once the document is known to be small. A prefix bound to no namespace is refused
 * too: xmldom leaves such a name without a namespace rather than failing, and everything
 * read from a message is found by namespace (by local name, another reader would see it).
 */
export function checkXmlShape(message: string, bounds: XmlBounds): Document {
  const xml = withoutXmlDeclaration(message);
  if (/<!DOCTYPE/i.test(xml)) throw new SamlRejection('xml_dtd');
  const exceeded = exceededBound(xml, bounds);
  if (exceeded) throw new SamlRejection(exceeded);
  let malformed = false;
  const doc = new DOMParser({
    errorHandler: { warning: () => {}, error: () => (malformed = true), fatalError: () => (malformed = true) },
  }).parseFromString(xml, 'text/xml');
  if (malformed || !doc.documentElement) throw new SamlRejection('malformed_xml');
  const pending: Node[] = [doc as unknown as Node];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.nodeType === COMMENT) throw new SamlRejection('xml_comment');
    if (node.nodeType === PROCESSING_INSTRUCTION) throw new SamlRejection('xml_processing_instruction');
    if (node.nodeType === DOCUMENT_TYPE) throw new SamlRejection('xml_dtd');
    if (node.nodeType === ELEMENT && !namespacesBound(node as Element)) throw new SamlRejection('malformed_xml');
    for (let child = node.firstChild; child; child = child.nextSibling) pending.push(child);
  }
  return doc as unknown as Document;
}

/**
 * The XML declaration many IdPs put first (Okta, ADFS, Shibboleth), taken off: it is no
 * processing instruction (XML 1.0 §2.8), but xmldom reports it as one. Only one, at the
 * very start, for XML 1.0 in UTF-8 (what the bytes were decoded as): any other is left in
 * place and refused as a processing instruction.
 */
const XML_DECLARATION = /^<\?xml\s+version\s*=\s*(["'])1\.0\1(?:\s+encoding\s*=\s*(["'])[uU][tT][fF]-8\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>/;

function withoutXmlDeclaration(xml: string): string {
  const declaration = XML_DECLARATION.exec(xml);
  return declaration ? xml.slice(declaration[0].length) : xml;
}

/**
 * Whether the element's prefix, and each of its attributes', is bound to a namespace, and
 * every attribute named xmlns… is a namespace declaration. xml-crypto's exclusive C14N
 * leaves out any attribute whose name starts with "xmlns" (xmlnsEvil="x" too), so the
 * signature does not cover such an attribute, while xmldom reads it as an ordinary one.
 */
function namespacesBound(element: Element): boolean {
  if (element.prefix && !element.namespaceURI) return false;
  for (const attribute of Array.from(element.attributes)) {
    if (attribute.prefix && !attribute.namespaceURI) return false;
    if (attribute.name.toLowerCase().startsWith('xmlns') && attribute.namespaceURI !== XMLNS) return false;
  }
  return true;
}
