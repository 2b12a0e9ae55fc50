import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { SamlRejection } from './refusal.js';

/** The SAML 2.0 protocol and assertion namespaces, by the prefixes our XPaths use. */
export const SAML_NS = { samlp: 'urn:oasis:names:tc:SAML:2.0:protocol', saml: 'urn:oasis:names:tc:SAML:2.0:assertion' };
const select = xpath.useNamespaces(SAML_NS);

/** A DOM of a document already bounded in size and shape; not well-formed: refused. */
export function parseXml(xml: string): Document {
  let failed = false;
  const doc = new DOMParser({
    errorHandler: {
      warning: () => {},
      error: () => (failed = true),
      fatalError: () => (failed = true),
    },
  }).parseFromString(xml, 'text/xml');
  if (failed) throw new SamlRejection('malformed_xml');
  return doc as unknown as Document;
}

/** The elements an XPath (with the samlp: and saml: prefixes) selects. */
export function elements(path: string, node: Node): Element[] {
  return (select(path, node) as Node[]).filter((n): n is Element => n.nodeType === 1);
}

/** An xs:dateTime attribute as epoch milliseconds, or null when absent or unreadable. */
export function timestamp(value: string | null): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
