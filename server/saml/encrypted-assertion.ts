import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import { checkedXml } from './raw-response.js';
import { SamlRejection } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import type { ServiceProviderKey } from './sp-keys.js';
import { childElements, pathElements, SAML_NS } from './xml-read.js';

const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const XENC11 = 'http://www.w3.org/2009/xmlenc11#';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
/** The local names of the encryption elements: each may appear only where encryptionStructure expects it. */
const ENCRYPTION_NAMES = ['EncryptedAssertion', 'EncryptedData', 'EncryptedKey', 'EncryptionMethod', 'CipherValue'] as const;

/**
 * The content ciphers we accept, with their key and IV lengths: AES in GCM or CBC, which
 * SP metadata advertises (sp-metadata.ts). 3DES (NIST-deprecated) is refused.
 */
const CONTENT_ALGORITHMS: ReadonlyMap<string, { cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-cbc' | 'aes-256-cbc'; keyBytes: number; ivBytes: number }> = new Map([
  [`${XENC11}aes256-gcm`, { cipher: 'aes-256-gcm', keyBytes: 32, ivBytes: 12 }],
  [`${XENC11}aes128-gcm`, { cipher: 'aes-128-gcm', keyBytes: 16, ivBytes: 12 }],
  [`${XENC}aes256-cbc`, { cipher: 'aes-256-cbc', keyBytes: 32, ivBytes: 16 }],
  [`${XENC}aes128-cbc`, { cipher: 'aes-128-cbc', keyBytes: 16, ivBytes: 16 }],
] as const);

/**
 * RSA-OAEP is the only key transport: RSA PKCS#1 v1.5 is open to Bleichenbacher's
 * padding oracle (XML Encryption 1.1 §5.5.1 note), which an ACS answering "refused"
 * differently per failure could become.
 */
const KEY_TRANSPORT = `${XENC}rsa-oaep-mgf1p`;
/**
 * OAEP digests, by their XML-DSig names (XML Encryption 1.1 §5.5.2; no DigestMethod means
 * SHA-1, the default there). Any other name is refused, never guessed at. Every algorithm
 * table here is a Map: an object's lookup would find `constructor` or `__proto__` too.
 */
const OAEP_DIGESTS: ReadonlyMap<string, string> = new Map([[`${DSIG}sha1`, 'sha1'], [`${DSIG}sha256`, 'sha256'], [`${DSIG}sha512`, 'sha512']]);

const GCM_TAG_BYTES = 16;

/** What a response's EncryptedAssertion decrypted to, and whether its content cipher is CBC. */
export interface Decryption {
  /** The decrypted Assertion, the root of its own document (held to the response's bounds). */
  assertion: Element;
  /**
   * CBC has no integrity: a changed ciphertext decrypts to changed plaintext, and any
   * refusal that tells one kind of plaintext from another is a decryption oracle
   * (Jager and Somorovsky, "How to Break XML Encryption", CCS 2011). So every failure
   * after the key unwrap, until the assertion's signature is verified, is
   * `decryption_failed` (see opaqueRefusal).
   */
  cbc: boolean;
}

/**
 * The response's EncryptedAssertion decrypted, or null when the response carries a plain
 * assertion. Each of the SP's keys is tried in turn (a key being rolled in or out), and the
 * plaintext is held to the response's own bounds (size, shape, no DTD, comment or processing
 * instruction) before it is parsed. Every check of a plain assertion then runs on it.
 */
export function decryptedAssertionOf(response: Document, keys: readonly ServiceProviderKey[], required: boolean): Decryption | null {
  const structure = encryptionStructure(response);
  if (!structure) {
    if (required) throw new SamlRejection('assertion_not_encrypted');
    return null;
  }
  // A plain assertion beside the encrypted one is refused here, before any key is tried.
  if (childElements(structure.response, SAML_NS.saml, 'Assertion').length > 0) throw new SamlRejection('assertion_missing');
  const { data, encryptedKey } = structure;
  const content = CONTENT_ALGORITHMS.get(algorithmOf(data) ?? '');
  if (!content || algorithmOf(encryptedKey) !== KEY_TRANSPORT) throw new SamlRejection('encryption_algorithm_refused');
  const digestAlgorithm = pathElements(encryptedKey, XENC, 'EncryptionMethod').flatMap((method) => childElements(method, DSIG, 'DigestMethod'))[0]?.getAttribute('Algorithm') || `${DSIG}sha1`;
  const oaepHash = OAEP_DIGESTS.get(digestAlgorithm);
  if (!oaepHash) throw new SamlRejection('encryption_algorithm_refused');
  const wrappedKey = cipherValueOf(encryptedKey);
  const ciphertext = cipherValueOf(data);
  const cbc = content.cipher.endsWith('cbc');

  for (const key of keys) {
    const plaintext = attempt(() => {
      const symmetricKey = privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrappedKey);
      return symmetricKey.length === content.keyBytes ? decryptContent(content, symmetricKey, ciphertext) : null;
    });
    if (plaintext === null) continue;
    try {
      return { assertion: assertionIn(plaintext), cbc };
    } catch (error) {
      throw cbc && error instanceof SamlRejection ? new SamlRejection('decryption_failed', error.code) : error;
    }
  }
  // Same code for "no key of ours" and "tampered": a sender learns nothing from which it was.
  throw new SamlRejection('decryption_failed');
}

/**
 * The response's one EncryptedAssertion, in the only shape accepted: a child of the
 * samlp:Response root in the SAML namespace, holding one xenc:EncryptedData whose
 * ds:KeyInfo holds the one xenc:EncryptedKey. No other element with any of those local
 * names may exist anywhere in the response, whatever its namespace: libraries find them by
 * local name alone (xml-encryption takes the first EncryptedData, EncryptionMethod,
 * EncryptedKey and CipherValue), so a decoy is refused outright rather than skipped, and
 * no reader of this response can take another element for the one decrypted here. Null
 * when the response has none of them.
 */
function encryptionStructure(doc: Document): { response: Element; data: Element; encryptedKey: Element } | null {
  const named = byLocalName(doc.documentElement, ENCRYPTION_NAMES);
  const assertions = named.get('EncryptedAssertion')!;
  const datas = named.get('EncryptedData')!;
  const encryptedKeys = named.get('EncryptedKey')!;
  if (assertions.length + datas.length + encryptedKeys.length === 0) return null;
  const response = doc.documentElement;
  const isResponse = response.namespaceURI === SAML_NS.samlp && response.localName === 'Response';
  const encrypted = isResponse ? childElements(response, SAML_NS.saml, 'EncryptedAssertion') : [];
  if (assertions.length !== 1 || encrypted[0] !== assertions[0]) throw new SamlRejection('assertion_missing');
  const [data] = childElements(encrypted[0]!, XENC, 'EncryptedData');
  const [encryptedKey] = data ? pathElements(data, DSIG, 'KeyInfo').flatMap((keyInfo) => childElements(keyInfo, XENC, 'EncryptedKey')) : [];
  if (!data || !encryptedKey || datas.length !== 1 || encryptedKeys.length !== 1) throw new SamlRejection('decryption_failed');
  const methods = [...childElements(data, XENC, 'EncryptionMethod'), ...childElements(encryptedKey, XENC, 'EncryptionMethod')];
  const cipherValues = [...pathElements(encryptedKey, XENC, 'CipherData/CipherValue'), ...pathElements(data, XENC, 'CipherData/CipherValue')];
  const digests = byLocalName(encryptedKey, ['DigestMethod']).get('DigestMethod')!;
  const keyDigests = childElements(encryptedKey, XENC, 'EncryptionMethod').flatMap((method) => childElements(method, DSIG, 'DigestMethod'));
  if (!sameElements(named.get('EncryptionMethod')!, methods) || !sameElements(named.get('CipherValue')!, cipherValues) || digests.length !== keyDigests.length) throw new SamlRejection('decryption_failed');
  return { response, data, encryptedKey };
}

/** Every element under `root` (itself included) with one of `names` as its local name, whatever its namespace, by name, in document order. */
function byLocalName(root: Element, names: readonly string[]): Map<string, Element[]> {
  const found = new Map(names.map((name) => [name, [] as Element[]]));
  const visit = (element: Element): void => {
    found.get(element.localName)?.push(element);
    for (let node = element.firstChild; node; node = node.nextSibling) if (node.nodeType === 1) visit(node as Element);
  };
  visit(root);
  return found;
}

/** Whether `found` (in document order) is exactly `expected`, one element each. */
function sameElements(found: readonly Element[], expected: readonly Element[]): boolean {
  return found.length === expected.length && new Set(expected).size === expected.length && found.every((element, i) => element === expected[i]);
}

/**
 * Refusals of the unencrypted envelope (its status, its shape): they say nothing of what a
 * CBC ciphertext decrypted to. Any other refusal before the decrypted assertion's signature
 * is verified (a signature that does not verify, no assertion in the plaintext) does.
 */
const JUDGED_ON_ENVELOPE: ReadonlySet<RefusalCode> = new Set(['idp_error_status', 'not_a_response']);

/** The code to show for a refusal made before the signature over a decrypted assertion was verified. */
export function opaqueRefusal(code: RefusalCode, decryption: Decryption | null): RefusalCode {
  return decryption?.cbc && !JUDGED_ON_ENVELOPE.has(code) ? 'decryption_failed' : code;
}

function assertionIn(plaintext: string): Element {
  const assertion = checkedXml(plaintext).documentElement;
  if (assertion?.localName !== 'Assertion' || assertion.namespaceURI !== 'urn:oasis:names:tc:SAML:2.0:assertion') throw new SamlRejection('assertion_missing');
  return assertion;
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
  return childElements(element, XENC, 'EncryptionMethod')[0]?.getAttribute('Algorithm') || null;
}

function cipherValueOf(element: Element): Buffer {
  return Buffer.from((pathElements(element, XENC, 'CipherData/CipherValue')[0]?.textContent ?? '').replace(/\s+/g, ''), 'base64');
}
