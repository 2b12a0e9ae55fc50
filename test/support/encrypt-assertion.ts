import { createRequire } from 'node:module';
import { promisify } from 'node:util';

/** xml-encryption (node-saml's own dependency, untyped): what an IdP encrypts assertions with. */
const xmlenc = createRequire(import.meta.url)('xml-encryption') as {
  encrypt(content: string, options: Record<string, unknown>, callback: (error: Error | null, result: string) => void): void;
};
const encrypt = promisify(xmlenc.encrypt);

export const ENCRYPTION = {
  aes128gcm: 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  aes256gcm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  aes128cbc: 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  aes256cbc: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  tripledes: 'http://www.w3.org/2001/04/xmlenc#tripledes-cbc',
} as const;

export const KEY_TRANSPORT = {
  rsaOaep: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  rsa15: 'http://www.w3.org/2001/04/xmlenc#rsa-1_5',
} as const;

export interface EncryptionOptions {
  encryption?: string;
  keyTransport?: string;
  /** OAEP digest: sha1 (the default, as most IdPs), sha256 or sha512. */
  digest?: 'sha1' | 'sha256' | 'sha512';
  /** What to encrypt instead of the assertion: what a changed ciphertext might decrypt to. */
  plaintext?: string;
}

const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';

/**
 * Replaces a response's (signed) Assertion by an EncryptedAssertion to `certificate`, as
 * an IdP does: the assertion's signature is inside the encryption. The assertion gets its
 * own xmlns:saml (exclusive canonicalisation renders it either way, so its signature holds).
 */
export async function encryptAssertion(responseXml: string, certificate: string, options: EncryptionOptions = {}): Promise<string> {
  const match = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(responseXml);
  if (!match) throw new Error('no saml:Assertion to encrypt');
  const assertion = match[0].replace('<saml:Assertion', `<saml:Assertion xmlns:saml="${SAML}"`);
  const encrypted = await encrypt(options.plaintext ?? assertion, {
    rsa_pub: certificate,
    pem: certificate,
    encryptionAlgorithm: options.encryption ?? ENCRYPTION.aes256gcm,
    keyEncryptionAlgorithm: options.keyTransport ?? KEY_TRANSPORT.rsaOaep,
    keyEncryptionDigest: options.digest ?? 'sha1',
    disallowEncryptionWithInsecureAlgorithm: false,
    warnInsecureAlgorithm: false,
  });
  return responseXml.replace(match[0], `<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>`);
}
