import { generate } from 'selfsigned';

export interface KeyPair {
  cert: string;
  privateKey: string;
}

/** A fresh self-signed certificate and key, as an IdP would publish and hold them. */
export async function selfSignedCertificate(commonName = 'test-idp'): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], { keySize: 2048, algorithm: 'sha256' });
  return { cert: pems.cert, privateKey: pems.private };
}
