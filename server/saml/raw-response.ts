import { DOMParser } from '@xmldom/xmldom';
import { SamlRejection } from './signed-assertion.js';

const COMMENT = 8;
const PROCESSING_INSTRUCTION = 7;
const DOCUMENT_TYPE = 10;
const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * Checks on the posted response before any signature code sees it. IdPs emit neither
 * comments, processing instructions nor DTDs in a Response, and each has been the lever
 * of a signature or identity bypass: comments split a NameID (CVE-2017-11428 class) or a
 * DigestValue (CVE-2025-29775); a DTD brings entity expansion. Refusing them outright
 * means no later parser can disagree about what they mean.
 */
export function checkRawResponse(samlResponse: unknown): void {
  if (typeof samlResponse !== 'string' || samlResponse.length === 0) throw new SamlRejection('no SAMLResponse');
  if (samlResponse.length > (MAX_RESPONSE_BYTES * 4) / 3 + 4) throw new SamlRejection('SAMLResponse too large');
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  if (/<!DOCTYPE/i.test(xml)) throw new SamlRejection('DTD in response');
  let malformed = false;
  const doc = new DOMParser({
    errorHandler: { warning: () => {}, error: () => (malformed = true), fatalError: () => (malformed = true) },
  }).parseFromString(xml, 'text/xml');
  if (malformed || !doc.documentElement) throw new SamlRejection('malformed XML');
  const pending: Node[] = [doc as unknown as Node];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.nodeType === COMMENT) throw new SamlRejection('XML comment in response');
    if (node.nodeType === PROCESSING_INSTRUCTION) throw new SamlRejection('processing instruction in response');
    if (node.nodeType === DOCUMENT_TYPE) throw new SamlRejection('DTD in response');
    for (let child = node.firstChild; child; child = child.nextSibling) pending.push(child);
  }
}
