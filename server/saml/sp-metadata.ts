import { DOMParser, XMLSerializer } from '@xmldom/xmldom';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

const POST_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/**
 * What node-saml's SP metadata leaves out. It publishes every signing certificate but one
 * encryption certificate: a KeyDescriptor use="encryption" (same EncryptionMethods) is
 * added for each further key, so an IdP that reads our metadata while a key is being
 * rolled knows both, and whichever it encrypts to, we decrypt (encrypted-assertion.ts
 * tries them all). It names one binding for the SingleLogoutService (HTTP-POST), while
 * /slo takes HTTP-Redirect too: that one is added at the same Location.
 */
export function completedSpMetadata(metadataXml: string, certificates: readonly string[]): string {
  const doc = new DOMParser().parseFromString(metadataXml, 'text/xml');
  addEncryptionKeys(doc, certificates);
  addRedirectLogout(doc);
  return new XMLSerializer().serializeToString(doc);
}

function addEncryptionKeys(doc: Document, certificates: readonly string[]): void {
  if (certificates.length < 2) return;
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
}

function addRedirectLogout(doc: Document): void {
  const services = Array.from(doc.getElementsByTagNameNS(MD, 'SingleLogoutService'));
  const post = services.find((s) => s.getAttribute('Binding') === POST_BINDING);
  if (!post || services.some((s) => s.getAttribute('Binding') === REDIRECT_BINDING)) return;
  const redirect = post.cloneNode(true) as typeof post;
  redirect.setAttribute('Binding', REDIRECT_BINDING);
  post.parentNode!.insertBefore(redirect, post.nextSibling);
}

/** The base64 body of a PEM certificate, as ds:X509Certificate holds it. */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
