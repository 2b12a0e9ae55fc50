import { X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { isLoopbackHost } from '../http/loopback-host.js';
import type { IdpTrust } from './identity-providers.js';
import { exceededBound } from './xml-bounds.js';
import type { XmlBounds } from './xml-bounds.js';

const select = xpath.useNamespaces({ md: 'urn:oasis:names:tc:SAML:2.0:metadata', ds: 'http://www.w3.org/2000/09/xmldsig#' });
const REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const SAML2 = 'urn:oasis:names:tc:SAML:2.0:protocol';

/**
 * One IdP's metadata is small (Entra ID's, the largest common one, is some 60 KiB with
 * a few hundred elements, most in its WS-Federation role descriptors): generous bounds
 * for one entity, none for an aggregate of thousands.
 */
export const METADATA_MAX_BYTES = 1024 * 1024;
const METADATA_BOUNDS: XmlBounds = { maxElements: 5_000, maxDepth: 32, maxAttributesPerElement: 40, maxAttributes: 20_000 };

/** Metadata that cannot be used; `message` names what is wrong, never quoting the document. */
export class IdpMetadataInvalid extends Error {}

/**
 * The trust an IdP's metadata (SAML 2.0 Metadata §2.4.3) gives: its entityID, the
 * certificates of its KeyDescriptors for signing (use="signing" or no use), and its
 * HTTP-Redirect SingleSignOnService. Parsed only once it is known to be small, without DTD.
 */
export function parseIdpMetadata(xml: string, expectedIssuer: string | undefined): IdpTrust {
  if (/<!DOCTYPE/i.test(xml)) throw new IdpMetadataInvalid('the metadata carries a DTD');
  const exceeded = exceededBound(xml, METADATA_BOUNDS);
  if (exceeded === 'malformed_xml') throw new IdpMetadataInvalid('the metadata is not well-formed XML');
  if (exceeded) throw new IdpMetadataInvalid(`the metadata is past its bounds (${exceeded})`);
  let malformed = false;
  const doc = new DOMParser({ errorHandler: { warning: () => {}, error: () => (malformed = true), fatalError: () => (malformed = true) } }).parseFromString(xml, 'text/xml');
  if (malformed || !doc.documentElement) throw new IdpMetadataInvalid('the metadata is not well-formed XML');
  const entity = doc.documentElement as unknown as Element;
  if (entity.localName !== 'EntityDescriptor' || entity.namespaceURI !== 'urn:oasis:names:tc:SAML:2.0:metadata') throw new IdpMetadataInvalid('the metadata is not one EntityDescriptor');
  const entityId = entity.getAttribute('entityID') ?? '';
  if (entityId === '') throw new IdpMetadataInvalid('the EntityDescriptor has no entityID');
  if (expectedIssuer !== undefined && entityId !== expectedIssuer) throw new IdpMetadataInvalid('its entityID is not the configured idpIssuer');
  const roles = elements('md:IDPSSODescriptor', entity).filter((r) => (r.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML2));
  if (roles.length !== 1) throw new IdpMetadataInvalid('expected one SAML 2.0 IDPSSODescriptor');
  const role = roles[0]!;

  const idpCert = elements('md:KeyDescriptor[not(@use) or @use="signing"]/ds:KeyInfo/ds:X509Data/ds:X509Certificate', role).map((node) => {
    const body = (node.textContent ?? '').replace(/\s+/g, '');
    const pem = `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    try {
      new X509Certificate(pem);
    } catch {
      throw new IdpMetadataInvalid('a signing KeyDescriptor holds no valid X.509 certificate');
    }
    return pem;
  });
  if (idpCert.length === 0) throw new IdpMetadataInvalid('no signing certificate');

  const sso = elements(`md:SingleSignOnService[@Binding="${REDIRECT_BINDING}"]`, role)[0]?.getAttribute('Location') ?? '';
  if (!isSignInUrl(sso)) throw new IdpMetadataInvalid('no https SingleSignOnService with the HTTP-Redirect binding (plain http only on a loopback address)');
  return { entryPoint: sso, idpIssuer: entityId, idpCert: [...new Set(idpCert)] };
}

/** Where browsers are sent to sign in: https, or plain http only to this machine (a lab or test IdP). */
function isSignInUrl(value: string): boolean {
  try {
    const url = new URL(value);
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    return secure && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

function elements(path: string, node: Node): Element[] {
  return (select(path, node) as Node[]).filter((n): n is Element => n.nodeType === 1);
}
