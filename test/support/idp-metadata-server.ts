import { createServer } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { certificateBody } from '../../server/saml/sp-metadata.js';
import type { TestTls } from './certificates.js';

/** An IdP's SAML metadata document (SAML 2.0 Metadata §2.4.3), as an IdP publishes it. */
export function idpMetadataXml(options: { entityId: string; ssoUrl: string; certificates: readonly string[] }): string {
  const keys = options.certificates
    .map((cert) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${options.entityId}">` +
    `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${options.ssoUrl}/post"/>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${options.ssoUrl}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}

export interface MetadataServer {
  url: string;
  /** How many GETs it answered (or dropped). */
  readonly fetches: number;
  /** What the next GETs get: a document, or a handler that answers (or drops) them. */
  serve(answer: string | ((res: ServerResponse) => void)): void;
  close(): Promise<void>;
}

/** A real HTTPS server on 127.0.0.1 with a certificate from the test CA, serving IdP metadata. */
export async function startMetadataServer(tls: TestTls): Promise<MetadataServer> {
  let answer: string | ((res: ServerResponse) => void) = '';
  let fetches = 0;
  const server = createServer({ key: tls.server.privateKey, cert: tls.server.cert }, (_req, res) => {
    fetches++;
    if (typeof answer === 'function') return answer(res);
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/metadata`,
    get fetches() {
      return fetches;
    },
    serve: (next) => (answer = next),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
