import { verify } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateBody } from '../../server/saml/sp-metadata.js';
import { selfSignedCertificate } from '../support/certificates.js';
import type { KeyPair } from '../support/certificates.js';
import { ENCRYPTION } from '../support/encrypt-assertion.js';
import { configTrusting, createTestIdp, startLogin } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

let corp: TestIdp;
let keys: KeyPair[];

beforeAll(async () => {
  corp = await createTestIdp('corp');
  keys = await Promise.all([selfSignedCertificate('sp-current'), selfSignedCertificate('sp-next')]);
});

async function withServer(spKeys: KeyPair[], body: (server: TestServer) => Promise<void>) {
  const server = await startTestServer({ config: configTrusting([corp], { saml: { serviceProvider: { keys: spKeys.map((k) => ({ privateKey: k.privateKey, certificate: k.cert })) } } }) });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

async function metadataOf(server: TestServer) {
  const res = await fetch(`${server.url}/auth/saml/corp/metadata`);
  expect(res.status).toBe(200);
  const doc = new DOMParser().parseFromString(await res.text(), 'text/xml');
  const descriptor = doc.getElementsByTagNameNS(MD, 'SPSSODescriptor')[0]!;
  const keyDescriptors = Array.from(descriptor.getElementsByTagNameNS(MD, 'KeyDescriptor'));
  const certificates = (use: string) => keyDescriptors.filter((d) => d.getAttribute('use') === use).map((d) => d.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'X509Certificate')[0]!.textContent!.replace(/\s+/g, ''));
  const methods = keyDescriptors.filter((d) => d.getAttribute('use') === 'encryption').map((d) => Array.from(d.getElementsByTagNameNS(MD, 'EncryptionMethod')).map((m) => m.getAttribute('Algorithm')));
  return { authnRequestsSigned: descriptor.getAttribute('AuthnRequestsSigned'), signing: certificates('signing'), encryption: certificates('encryption'), methods };
}

describe('SP metadata publishes every SP key', () => {
  it('lists both keys for signing and for encryption, with the AES methods accepted, and says AuthnRequests are signed', async () => {
    await withServer(keys, async (server) => {
      const metadata = await metadataOf(server);
      const bodies = keys.map((k) => certificateBody(k.cert));
      expect(metadata.authnRequestsSigned).toBe('true');
      expect(metadata.signing).toEqual(bodies);
      expect(metadata.encryption).toEqual(bodies);
      const aes = [ENCRYPTION.aes256gcm, ENCRYPTION.aes128gcm, ENCRYPTION.aes256cbc, ENCRYPTION.aes128cbc];
      expect(metadata.methods).toEqual([aes, aes]);
    });
  });

  it('publishes no key, and says AuthnRequests are not signed, when the SP has none', async () => {
    await withServer([], async (server) => {
      const metadata = await metadataOf(server);
      expect(metadata).toEqual({ authnRequestsSigned: 'false', signing: [], encryption: [], methods: [] });
    });
  });
});

describe('AuthnRequests are signed with the first SP key', () => {
  it('signs the HTTP-Redirect AuthnRequest with RSA-SHA256, verifiable with the first certificate the metadata publishes', async () => {
    await withServer(keys, async (server) => {
      const { location } = await startLogin(server.url, 'corp');
      // SAML Bindings §3.4.4.1: the signature covers SAMLRequest, RelayState and SigAlg as they appear in the query.
      const raw = new Map(location.search.slice(1).split('&').map((pair) => pair.split('=') as [string, string]));
      expect(location.searchParams.get('SigAlg')).toBe(RSA_SHA256);
      const signed = ['SAMLRequest', 'RelayState', 'SigAlg'].map((name) => `${name}=${raw.get(name)}`).join('&');
      const signature = Buffer.from(location.searchParams.get('Signature')!, 'base64');
      const published = (await metadataOf(server)).signing[0]!;
      const pem = `-----BEGIN CERTIFICATE-----\n${published}\n-----END CERTIFICATE-----\n`;
      expect(verify('sha256', Buffer.from(signed), pem, signature)).toBe(true);
      expect(verify('sha256', Buffer.from(signed), keys[1]!.cert, signature)).toBe(false);
    });
  });

  it('sends an unsigned AuthnRequest when the SP has no key', async () => {
    await withServer([], async (server) => {
      const { location } = await startLogin(server.url, 'corp');
      expect(location.searchParams.has('Signature')).toBe(false);
    });
  });
});
