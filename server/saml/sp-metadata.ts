import { DOMParser, XMLSerializer } from '@xmldom/xmldom';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

/**
 * node-saml's SP metadata publishes every signing certificate but one encryption
 * certificate: this adds a KeyDescriptor use="encryption" (same EncryptionMethods) for
 * each further key, so an IdP that reads our metadata while a key is being rolled knows
 * both, and whichever it encrypts to, we decrypt (encrypted-assertion.ts tries them all).
 */
export function withEncryptionKeys(metadataXml: string, certificates: readonly string[]): string {
  if (certificates.length < 2) return metadataXml;
  const doc = new DOMParser().parseFromString(metadataXml, 'text/xml');
  const descriptors = Array.from(doc.getElementsByTagNameNS(MD, 'KeyDescriptor')).filter((d) => d.getAttribute('use') === 'encryption');
  const first = descriptors[0];
  if (descriptors.length !== 1 || !first) throw new Error('SP metadata: expected one encryption KeyDescriptor from node-saml');
  let after: Node = first;
  for (const certificate of certificates.slice(1)) {
    const copy = first.cloneNode(true) as typeof first;
    const x509 = copy.getElementsByTagNameNS(DSIG, 'X509Certificate')[0];
    if (!x509) throw new Error('SP metadata: the encryption KeyDescriptor has no certificate');
    x509.textContent = certificateBody(certificate);
    first.parentNode!.insertBefore(copy, after.nextSibling);
    after = copy;
  }
  return new XMLSerializer().serializeToString(doc);
}

/** The base64 body of a PEM certificate, as ds:X509Certificate holds it. */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
