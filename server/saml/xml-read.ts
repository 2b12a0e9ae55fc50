/** The SAML 2.0 protocol and assertion namespaces. */
export const SAML_NS = { samlp: 'urn:oasis:names:tc:SAML:2.0:protocol', saml: 'urn:oasis:names:tc:SAML:2.0:assertion' };

const ELEMENT = 1;

/**
 * The child elements of `parent` named `localName` in `namespace`, in document order.
 * Children only, by namespace and local name (never by prefix, never deeper): what is read
 * from a signed element is then always inside what its signature covers, never inside a
 * nested ds:Signature (XSW8 hides a copy there) or another element's subtree.
 */
export function childElements(parent: Element, namespace: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === ELEMENT && (node as Element).localName === localName && (node as Element).namespaceURI === namespace) found.push(node as Element);
  }
  return found;
}

/** Every child element of `parent`, in document order. */
export function elementChildren(parent: Element): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) if (node.nodeType === ELEMENT) found.push(node as Element);
  return found;
}

/** The elements a path of child steps in one namespace reaches from `parent` (`'Subject/NameID'`), in document order. */
export function pathElements(parent: Element, namespace: string, path: string): Element[] {
  let reached = [parent];
  for (const step of path.split('/')) reached = reached.flatMap((element) => childElements(element, namespace, step));
  return reached;
}

/** An xs:dateTime attribute as epoch milliseconds, or null when absent or unreadable. */
export function timestamp(value: string | null): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
