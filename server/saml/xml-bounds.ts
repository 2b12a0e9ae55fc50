/** Limits on an XML document's shape, checked before any parser builds a tree of it. */
export interface XmlBounds {
  maxElements: number;
  maxDepth: number;
  maxAttributesPerElement: number;
  maxAttributes: number;
}

/** A bound broken; or an end tag that closes no open element (never well-formed). */
type BoundExceeded = 'too_many_elements' | 'too_deep' | 'too_many_attributes' | 'malformed_xml';

const LT = '<'.charCodeAt(0);
const GT = '>'.charCodeAt(0);
const SLASH = '/'.charCodeAt(0);
const QUESTION = '?'.charCodeAt(0);
const BANG = '!'.charCodeAt(0);
const EQUALS = '='.charCodeAt(0);
const QUOTE = '"'.charCodeAt(0);
const APOSTROPHE = "'".charCodeAt(0);

/**
 * Which bound `xml` breaks, or null, in one linear pass over its markup. A DOM costs far
 * more per element than its bytes suggest, and what runs on it after (XPath, signature
 * canonicalisation) grows faster than linearly with the element count: a quarter
 * megabyte of empty elements held the event loop for seconds. This is a bound, not a
 * parser: it counts start tags, their nesting and their `=` signs outside quoted values,
 * skips comments, CDATA, processing instructions and declarations, and leaves
 * well-formedness to the parser that runs once the document is known to be small. On
 * broken markup it errs towards counting more (an unterminated comment or CDATA hides
 * nothing), so no parser can build more than it counted.
 */
export function exceededBound(xml: string, bounds: XmlBounds): BoundExceeded | null {
  let elements = 0;
  let attributes = 0;
  // Open elements' names: a stray or mismatched end tag must not lower the depth that a
  // recovering parser would keep.
  const open: string[] = [];
  for (let start = xml.indexOf('<'); start !== -1; ) {
    const next = xml.charCodeAt(start + 1);
    let end: number;
    if (next === SLASH) {
      end = endOf(xml, '>', start, start);
      if (open.pop() !== nameAt(xml, start + 2)) return 'malformed_xml';
    } else if (xml.startsWith('<!--', start)) {
      end = endOf(xml, '-->', start + 4, start);
    } else if (xml.startsWith('<![CDATA[', start)) {
      end = endOf(xml, ']]>', start + 9, start);
    } else if (next === QUESTION || next === BANG) {
      end = endOf(xml, '>', start, start);
    } else {
      if (++elements > bounds.maxElements) return 'too_many_elements';
      const tag = scanStartTag(xml, start + 1);
      if (tag.attributes > bounds.maxAttributesPerElement) return 'too_many_attributes';
      attributes += tag.attributes;
      if (attributes > bounds.maxAttributes) return 'too_many_attributes';
      if (!tag.selfClosing && open.push(nameAt(xml, start + 1)) > bounds.maxDepth) return 'too_deep';
      end = tag.end;
    }
    start = xml.indexOf('<', end + 1);
  }
  return null;
}

/** The index of the last character of `terminator` at or after `from`; unterminated, just the opener's. */
function endOf(xml: string, terminator: string, from: number, opener: number): number {
  const at = xml.indexOf(terminator, from);
  return at < 0 ? opener : at + terminator.length - 1;
}

/**
 * A start tag from just after its `<`: where its `>` is, its attribute count, and whether
 * it closes itself. A quote opens a value only right after `=`, and a `<` ends the tag
 * even inside one (it is never legal there), so on broken markup this counts more
 * elements than a recovering parser could build, never fewer.
 */
function scanStartTag(xml: string, from: number): { end: number; attributes: number; selfClosing: boolean } {
  let quote = 0;
  let expectingValue = false;
  let attributes = 0;
  for (let i = from; i < xml.length; i++) {
    const c = xml.charCodeAt(i);
    if (c === LT) return { end: i - 1, attributes, selfClosing: false };
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === EQUALS) {
      attributes++;
      expectingValue = true;
    } else if (expectingValue && (c === QUOTE || c === APOSTROPHE)) {
      quote = c;
      expectingValue = false;
    } else if (c === GT) {
      return { end: i, attributes, selfClosing: xml.charCodeAt(i - 1) === SLASH };
    } else if (!isSpace(c)) {
      expectingValue = false;
    }
  }
  return { end: xml.length, attributes, selfClosing: false };
}

/** The tag name starting at `from`: up to a space, `/` or `>`. */
function nameAt(xml: string, from: number): string {
  let i = from;
  while (i < xml.length) {
    const c = xml.charCodeAt(i);
    if (isSpace(c) || c === SLASH || c === GT || c === LT) break;
    i++;
  }
  return xml.slice(from, i);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
