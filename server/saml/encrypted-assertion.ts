import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import xpath from 'xpath';
import { checkedXml } from './raw-response.js';
import { SamlRejection } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import type { ServiceProviderKey } from './sp-keys.js';

const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const XENC11 = 'http://www.w3.org/2009/xmlenc11#';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const select = xpath.useNamespaces({ samlp: 'urn:oasis:names:tc:SAML:2.0:protocol', saml: 'urn:oasis:names:tc:SAML:2.0:assertion', xenc: XENC, ds: DSIG });

/**
 * The content ciphers we accept, with their key and IV lengths: AES in GCM or CBC, which
 * SP metadata advertises (sp-metadata.ts). 3DES (NIST-deprecated) is refused.
 */
const CONTENT_ALGORITHMS: Readonly<Record<string, { cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-cbc' | 'aes-256-cbc'; keyBytes: number; ivBytes: number }>> = {
  [`${XENC11}aes256-gcm`]: { cipher: 'aes-256-gcm', keyBytes: 32, ivBytes: 12 },
  [`${XENC11}aes128-gcm`]: { cipher: 'aes-128-gcm', keyBytes: 16, ivBytes: 12 },
  [`${XENC}aes256-cbc`]: { cipher: 'aes-256-cbc', keyBytes: 32, ivBytes: 16 },
  [`${XENC}aes128-cbc`]: { cipher: 'aes-128-cbc', keyBytes: 16, ivBytes: 16 },
};

/**
 * RSA-OAEP is the only key transport: RSA PKCS#1 v1.5 is open to Bleichenbacher's
 * padding oracle (XML Encryption 1.1 §5.5.1 note), which an ACS answering "refused"
 * differently per failure could become.
 */
const KEY_TRANSPORT = `${XENC}rsa-oaep-mgf1p`;
/**
 * OAEP digests as xml-encryption (node-saml's decrypter) names them; it silently uses
 * SHA-1 for any other name, so any other is refused rather than decrypted two ways.
 */
const OAEP_DIGESTS: Readonly<Record<string, string>> = { [`${DSIG}sha1`]: 'sha1', [`${DSIG}sha256`]: 'sha256', [`${DSIG}sha512`]: 'sha512' };

const GCM_TAG_BYTES = 16;

/** The SP key that opens a response's EncryptedAssertion, and whether its content cipher is CBC. */
export interface Decryption {
  key: ServiceProviderKey;
  /**
   * CBC has no integrity: a changed ciphertext decrypts to changed plaintext, and any
   * refusal that tells one kind of plaintext from another is a decryption oracle
   * (Jager and Somorovsky, "How to Break XML Encryption", CCS 2011). So every failure
   * after the key unwrap is `decryption_failed` (see opaqueRefusal).
   */
  cbc: boolean;
}

/**
 * Which of the SP's keys opens the response's EncryptedAssertion, or null when the
 * response carries a plain assertion. node-saml decrypts with one key (`decryptionPvk`)
 * and parses what comes out without any bound: so the key is found here, by decrypting
 * with each in turn, and the plaintext is held to the response's own bounds (size, shape,
 * no DTD, comment or processing instruction) before node-saml is given that key. Every
 * check node-saml and signed-assertion.ts make then runs on the decrypted assertion.
 */
export function decryptionKeyFor(response: Document, keys: readonly ServiceProviderKey[], required: boolean): Decryption | null {
  const structure = encryptionStructure(response);
  if (!structure) {
    if (required) throw new SamlRejection('assertion_not_encrypted');
    return null;
  }
  // node-saml refuses two assertions too; refusing here keeps the key search to one.
  if (elements('/samlp:Response/saml:Assertion', response).length > 0) throw new SamlRejection('assertion_missing');
  const { data, encryptedKey } = structure;
  const content = CONTENT_ALGORITHMS[algorithmOf(data) ?? ''];
  if (!content || algorithmOf(encryptedKey) !== KEY_TRANSPORT) throw new SamlRejection('encryption_algorithm_refused');
  const digestAlgorithm = (select('string(xenc:EncryptionMethod/ds:DigestMethod/@Algorithm)', encryptedKey) as string) || `${DSIG}sha1`;
  const oaepHash = OAEP_DIGESTS[digestAlgorithm];
  if (!oaepHash) throw new SamlRejection('encryption_algorithm_refused');
  const wrappedKey = base64Of('xenc:CipherData/xenc:CipherValue', encryptedKey);
  const ciphertext = base64Of('xenc:CipherData/xenc:CipherValue', data);
  const cbc = content.cipher.endsWith('cbc');

  for (const key of keys) {
    const plaintext = attempt(() => {
      const symmetricKey = privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrappedKey);
      return symmetricKey.length === content.keyBytes ? decryptContent(content, symmetricKey, ciphertext) : null;
    });
    if (plaintext === null) continue;
    try {
      checkAssertion(plaintext);
    } catch (error) {
      throw cbc && error instanceof SamlRejection ? new SamlRejection('decryption_failed') : error;
    }
    return { key, cbc };
  }
  // Same code for "no key of ours" and "tampered": a sender learns nothing from which it was.
  throw new SamlRejection('decryption_failed');
}

/**
 * The response's one EncryptedAssertion, in the only shape accepted: a child of the
 * samlp:Response root in the SAML namespace, holding one xenc:EncryptedData whose
 * ds:KeyInfo holds the one xenc:EncryptedKey. node-saml finds the EncryptedAssertion by
 * local name alone, and xml-encryption, inside it, the first EncryptedData,
 * EncryptionMethod and EncryptedKey by local name and the first CipherValue as the
 * wrapped key: so no other element with any of those local names may exist anywhere in
 * the response (whatever its namespace), and the wrapped key's CipherValue comes first.
 * Then the elements checked and decrypted here are the ones the library decrypts. Null
 * when the response has none of them.
 */
function encryptionStructure(response: Document): { data: Element; encryptedKey: Element } | null {
  const named = (name: string) => elements(`//*[local-name()='${name}']`, response);
  const assertions = named('EncryptedAssertion');
  const datas = named('EncryptedData');
  const encryptedKeys = named('EncryptedKey');
  if (assertions.length + datas.length + encryptedKeys.length === 0) return null;
  const encrypted = elements('/samlp:Response/saml:EncryptedAssertion', response);
  if (assertions.length !== 1 || encrypted[0] !== assertions[0]) throw new SamlRejection('assertion_missing');
  const [data] = elements('xenc:EncryptedData', encrypted[0]!);
  const [encryptedKey] = data ? elements('ds:KeyInfo/xenc:EncryptedKey', data) : [];
  if (!data || !encryptedKey || datas.length !== 1 || encryptedKeys.length !== 1) throw new SamlRejection('decryption_failed');
  const methods = [...elements('xenc:EncryptionMethod', data), ...elements('xenc:EncryptionMethod', encryptedKey)];
  const cipherValues = [...elements('xenc:CipherData/xenc:CipherValue', encryptedKey), ...elements('xenc:CipherData/xenc:CipherValue', data)];
  const digests = elements(".//*[local-name()='DigestMethod']", encryptedKey);
  if (!sameElements(named('EncryptionMethod'), methods) || !sameElements(named('CipherValue'), cipherValues) || digests.length !== elements('xenc:EncryptionMethod/ds:DigestMethod', encryptedKey).length)
    throw new SamlRejection('decryption_failed');
  return { data, encryptedKey };
}

/** Whether `found` (in document order) is exactly `expected`, one element each. */
function sameElements(found: readonly Element[], expected: readonly Element[]): boolean {
  return found.length === expected.length && new Set(expected).size === expected.length && found.every((element, i) => element === expected[i]);
}

/**
 * node-saml's refusals that judge the assertion only once its signature is verified (or
 * judge the unencrypted envelope): the only ones a CBC-encrypted assertion may show as
 * they are. Any other (a signature that does not verify, XML node-saml cannot read, no
 * assertion in the plaintext, an unknown message) says something about what a possibly
 * changed ciphertext decrypted to.
 */
const JUDGED_ON_SIGNED_CONTENT: ReadonlySet<RefusalCode> = new Set([
  'idp_error_status',
  'issuer_mismatch',
  'audience_mismatch',
  'audience_missing',
  'not_yet_valid',
  'expired',
  'unsolicited_response',
  'in_response_to_unknown',
  'conditions_invalid',
]);

/** The code to show for node-saml's refusal of a response whose assertion `decryption` opened. */
export function opaqueRefusal(code: RefusalCode, decryption: Decryption | null | undefined): RefusalCode {
  return decryption?.cbc && !JUDGED_ON_SIGNED_CONTENT.has(code) ? 'decryption_failed' : code;
}

function checkAssertion(plaintext: string): void {
  const assertion = checkedXml(plaintext).documentElement;
  if (assertion?.localName !== 'Assertion' || assertion.namespaceURI !== 'urn:oasis:names:tc:SAML:2.0:assertion') throw new SamlRejection('assertion_missing');
}

/** XML Encryption §5.2: IV first; GCM's tag last; CBC padded with its length in the last byte (ISO 10126, not PKCS#7). */
function decryptContent(content: { cipher: string; ivBytes: number }, key: Buffer, ciphertext: Buffer): string | null {
  const gcm = content.cipher.endsWith('gcm');
  const tagBytes = gcm ? GCM_TAG_BYTES : 0;
  if (ciphertext.length < content.ivBytes + tagBytes + 1) return null;
  const decipher = createDecipheriv(content.cipher, key, ciphertext.subarray(0, content.ivBytes));
  decipher.setAutoPadding(false);
  if (gcm) (decipher as ReturnType<typeof createDecipheriv> & { setAuthTag(tag: Buffer): void }).setAuthTag(ciphertext.subarray(ciphertext.length - tagBytes));
  const plain = Buffer.concat([decipher.update(ciphertext.subarray(content.ivBytes, ciphertext.length - tagBytes)), decipher.final()]);
  if (gcm) return plain.toString('utf8');
  const padding = plain[plain.length - 1]!;
  return padding >= 1 && padding <= content.ivBytes ? plain.subarray(0, plain.length - padding).toString('utf8') : null;
}

function attempt<T>(fn: () => T | null): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

function algorithmOf(element: Element): string | null {
  return (select('string(xenc:EncryptionMethod/@Algorithm)', element) as string) || null;
}

function base64Of(path: string, element: Element): Buffer {
  return Buffer.from((select(`string(${path})`, element) as string).replace(/\s+/g, ''), 'base64');
}

function elements(path: string, node: Node): Element[] {
  return (select(path, node) as Node[]).filter((n): n is Element => n.nodeType === 1);
}
