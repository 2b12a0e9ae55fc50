import { generate } from 'selfsigned';

export interface KeyPair {
  cert: string;
  privateKey: string;
}

/** A fresh self-signed certificate and key (RSA 2048, or EC P-256), as an IdP would publish and hold them. */
export async function selfSignedCertificate(commonName = 'test-idp', keyType: 'rsa' | 'ec' = 'rsa'): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], keyType === 'rsa' ? { keySize: 2048, algorithm: 'sha256' } : { keyType, curve: 'P-256', algorithm: 'sha256' });
  return { cert: pems.cert, privateKey: pems.private };
}

export interface TestTls {
  /** The test CA's certificate: what a client given it as its private CA trusts. */
  ca: string;
  /** The CA's key: what issues client certificates (issueClientCertificate). */
  caKey: string;
  /** A server certificate for 127.0.0.1 (and localhost) issued by that CA. */
  server: KeyPair;
}

/** A private CA and a loopback server certificate it issued, for real HTTPS on 127.0.0.1. */
export async function testTls(): Promise<TestTls> {
  const ca = await generate([{ name: 'commonName', value: 'Portcullis test CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { ca: ca.cert, caKey: ca.private, server: { cert: server.cert, privateKey: server.private } };
}

/** A client certificate the test CA issued (mutual TLS: what a receiver requiring one accepts). */
export async function issueClientCertificate(tls: TestTls, commonName = 'portcullis-client'): Promise<KeyPair> {
  const client = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: tls.caKey, cert: tls.ca },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: client.cert, privateKey: client.private };
}
