import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signElement } from '../../server/dev-idp/saml-response.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import type { KeyPair } from '../support/certificates.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { ENCRYPTION, encryptAssertion, KEY_TRANSPORT } from '../support/encrypt-assertion.js';
import type { EncryptionOptions } from '../support/encrypt-assertion.js';
import { configTrusting, createTestIdp, postToAcs, startLogin } from '../support/test-idp.js';
import type { AcsResult, TestIdp } from '../support/test-idp.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

let server: TestServer;
let corp: TestIdp;
/** The same IdP, with requireEncryptedAssertions. */
let strict: TestIdp;
let spKey1: KeyPair;
let spKey2: KeyPair;
let stranger: KeyPair;

beforeAll(async () => {
  [corp, strict, spKey1, spKey2, stranger] = await Promise.all([createTestIdp('corp'), createTestIdp('strict'), selfSignedCertificate('sp-1'), selfSignedCertificate('sp-2'), selfSignedCertificate('someone-else')]);
  strict.config.requireEncryptedAssertions = true;
  strict.config.requireSignedAssertions = true;
  strict.config.emailDomains = ['strict.example.com'];
  corp.config.emailDomains = ['example.com'];
  server = await startTestServer({
    config: configTrusting([corp, strict], { saml: { serviceProvider: { keys: [spKey1, spKey2].map((k) => ({ privateKey: k.privateKey, certificate: k.cert })) } } }),
  });
});
afterAll(() => server.close());

const USERS = { corp: 'alice@example.com', strict: 'bob@strict.example.com' } as const;

/** A fresh login at `idp`, answered by a signed response whose assertion is encrypted to `cert`. */
async function encryptedPost(idp: TestIdp, cert: string, options: EncryptionOptions = {}, tamper: (xml: string) => string = (xml) => xml) {
  const { requestId } = await startLogin(server.url, idp.id);
  const email = USERS[idp.id as keyof typeof USERS];
  const xml = await encryptAssertion(idp.signedResponse({ inResponseTo: requestId, nameId: email, attributes: { email } }), cert, options);
  return postToAcs(server.url, idp.id, tamper(xml));
}

async function lastLogin() {
  const events = await server.stores.audit.read({ limit: 100_000 });
  return events.filter((e) => e.type === 'auth.login').at(-1)!;
}

async function expectRefused(result: { status: number }, reason: RefusalCode, idp = 'corp') {
  expect(result.status).toBe(401);
  const event = await lastLogin();
  expect([event.outcome, event.data]).toEqual(['DENIED', { idp, reason, clientAddress: '127.0.0.1' }]);
}

describe('encrypted assertions are decrypted with whichever SP key they were encrypted to', () => {
  for (const [name, encryption] of Object.entries({ 'AES-128-GCM': ENCRYPTION.aes128gcm, 'AES-256-GCM': ENCRYPTION.aes256gcm, 'AES-128-CBC': ENCRYPTION.aes128cbc, 'AES-256-CBC': ENCRYPTION.aes256cbc })) {
    for (const [which, key] of [
      ['the first', () => spKey1],
      ['the second', () => spKey2],
    ] as const) {
      it(`signs in with an assertion encrypted with ${name} and RSA-OAEP to ${which} SP key`, async () => {
        const result = await encryptedPost(corp, key().cert, { encryption });
        expect(result.status).toBe(303);
        expect(result.cookie).toMatch(/^portcullis_session=/);
        const event = await lastLogin();
        expect([event.outcome, event.actor]).toEqual(['SUCCESS', 'alice@example.com']);
      });
    }
  }

  it('accepts RSA-OAEP with a SHA-256 digest', async () => {
    expect((await encryptedPost(corp, spKey2.cert, { digest: 'sha256' })).status).toBe(303);
  });

  it('accepts a response that is also signed around the encrypted assertion', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const xml = await encryptAssertion(corp.signedResponse({ inResponseTo: requestId }), spKey1.cert);
    expect((await postToAcs(server.url, 'corp', signElement(xml, 'Response', corp.key))).status).toBe(303);
  });

  it('refuses it from an IdP with requireSignedAssertions: the assertion itself must be signed (signature_invalid)', async () => {
    const { requestId } = await startLogin(server.url, 'strict');
    const xml = await encryptAssertion(strict.responseXml({ inResponseTo: requestId, nameId: USERS.strict, attributes: { email: USERS.strict } }), spKey1.cert);
    await expectRefused(await postToAcs(server.url, 'strict', signElement(xml, 'Response', strict.key)), 'signature_invalid', 'strict');
  });

  it('still accepts a plain signed assertion from an IdP that need not encrypt', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    expect((await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }))).status).toBe(303);
  });
});

describe('encrypted assertions that are refused', () => {
  it('refuses an assertion encrypted to a key that is not ours (decryption_failed)', async () => {
    await expectRefused(await encryptedPost(corp, stranger.cert), 'decryption_failed');
  });

  it('refuses RSA PKCS#1 v1.5 key transport (encryption_algorithm_refused)', async () => {
    await expectRefused(await encryptedPost(corp, spKey1.cert, { keyTransport: KEY_TRANSPORT.rsa15 }), 'encryption_algorithm_refused');
  });

  it('refuses 3DES content encryption (encryption_algorithm_refused)', async () => {
    await expectRefused(await encryptedPost(corp, spKey1.cert, { encryption: ENCRYPTION.tripledes }), 'encryption_algorithm_refused');
  });

  // The algorithm tables are Maps: on a plain object, Algorithm="constructor" or "__proto__"
  // found an inherited member and the ACS answered an unauthenticated post with a 500.
  for (const name of ['constructor', '__proto__']) {
    it(`refuses a content cipher named "${name}" (encryption_algorithm_refused)`, async () => {
      await expectRefused(await encryptedPost(corp, spKey1.cert, { encryption: ENCRYPTION.aes128cbc }, (xml) => xml.replace(ENCRYPTION.aes128cbc, name)), 'encryption_algorithm_refused');
    });

    it(`refuses an RSA-OAEP digest named "${name}" (encryption_algorithm_refused)`, async () => {
      const oaepDigest = (xml: string) => {
        const changed = xml.replace(/(<(?:\w+:)?DigestMethod Algorithm=")[^"]+"/, `$1${name}"`);
        expect(changed).not.toBe(xml);
        return changed;
      };
      await expectRefused(await encryptedPost(corp, spKey1.cert, {}, oaepDigest), 'encryption_algorithm_refused');
    });
  }

  it('refuses a GCM ciphertext with one byte changed (decryption_failed)', async () => {
    await expectRefused(await encryptedPost(corp, spKey1.cert, { encryption: ENCRYPTION.aes256gcm }, flipCipherByte), 'decryption_failed');
  });

  // CBC has no integrity of its own: a change garbles one block and flips a bit in the next,
  // so what protects the assertion is its signature (a change in the unsigned KeyInfo
  // certificate inside it is harmless: node-saml verifies with the configured certificates).
  it('refuses a CBC ciphertext changed in its first block: what it decrypts to is no signed assertion (decryption_failed)', async () => {
    await expectRefused(await encryptedPost(corp, spKey1.cert, { encryption: ENCRYPTION.aes256cbc }, (xml) => flipCipherByte(xml, 20)), 'decryption_failed');
  });
  it('accepts an unsigned encrypted assertion in a signed response (the signature covers the ciphertext)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const xml = await encryptAssertion(corp.responseXml({ inResponseTo: requestId }), spKey1.cert);
    expect((await postToAcs(server.url, 'corp', signElement(xml, 'Response', corp.key))).status).toBe(303);
  });

  it('refuses an encrypted assertion that is not signed (signature_invalid)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const xml = await encryptAssertion(corp.responseXml({ inResponseTo: requestId }), spKey1.cert);
    await expectRefused(await postToAcs(server.url, 'corp', xml), 'signature_invalid');
  });

  it('refuses a plain assertion from an IdP with requireEncryptedAssertions (assertion_not_encrypted)', async () => {
    const { requestId } = await startLogin(server.url, 'strict');
    const plain = strict.signedResponse({ inResponseTo: requestId, nameId: USERS.strict, attributes: { email: USERS.strict } });
    await expectRefused(await postToAcs(server.url, 'strict', plain), 'assertion_not_encrypted', 'strict');
    expect((await encryptedPost(strict, spKey1.cert)).status).toBe(303);
  });
});

// Jager and Somorovsky (CCS 2011): if a changed CBC ciphertext with good padding were refused
// otherwise than one with bad padding (not XML, a DTD, no assertion...), the refusal would be
// an oracle decrypting a captured assertion byte by byte. Every such refusal must look alike.
describe('a CBC ciphertext is refused alike whatever it decrypts to', () => {
  const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
  const cbc = { encryption: ENCRYPTION.aes128cbc };
  const refusal = async (result: AcsResult) => ({ status: result.status, cookie: result.cookie, body: result.body, audit: [(await lastLogin()).outcome, (await lastLogin()).data] });
  let badPadding: Awaited<ReturnType<typeof refusal>>;

  beforeAll(async () => {
    // The last byte of the block before the last one sets the padding length byte: 0x80 puts it out of range.
    badPadding = await refusal(await encryptedPost(corp, spKey1.cert, cbc, (xml) => flipCipherByte(xml, -17, 0x80)));
  });

  it('refuses a CBC ciphertext with bad padding with decryption_failed', () => {
    expect(badPadding.status).toBe(401);
    expect(badPadding.body).toContain('<code>decryption_failed</code>');
    expect(badPadding.audit).toEqual(['DENIED', { idp: 'corp', reason: 'decryption_failed', clientAddress: '127.0.0.1' }]);
  });

  // node-saml uses up the request of a response it refuses; a refusal before it must too, or a
  // second post naming the same request would tell which of the two refused the first.
  it('uses up the sign-in request a bad-padding response names, as a refusal by the SAML library does', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const answer = () => encryptAssertion(corp.signedResponse({ inResponseTo: requestId }), spKey1.cert, cbc);
    await expectRefused(await postToAcs(server.url, 'corp', flipCipherByte(await answer(), -17, 0x80)), 'decryption_failed');
    await expectRefused(await postToAcs(server.url, 'corp', await answer()), 'in_response_to_unknown');
  });

  // Response/@InResponseTo is outside every signature: an attacker who strips it, or names a
  // request that is gone, from a captured response must learn nothing of its plaintext either.
  for (const [what, answering] of [
    ['no request (InResponseTo stripped)', (xml: string) => xml.replace(/ InResponseTo="[^"]+"/, '')],
    ['a request that is gone', (xml: string) => xml.replace(/ InResponseTo="[^"]+"/, ' InResponseTo="_long_gone"')],
  ] as const) {
    it(`refuses a captured CBC response answering ${what} alike whether it decrypts to its signed assertion or not`, async () => {
      const captured = answering(await encryptAssertion(corp.signedResponse({ inResponseTo: '_captured' }), spKey1.cert, cbc));
      const intact = await refusal(await postToAcs(server.url, 'corp', captured));
      const tampered = await refusal(await postToAcs(server.url, 'corp', flipCipherByte(captured, -17, 0x80)));
      expect(intact.status).toBe(401);
      expect(tampered).toEqual(intact);
    });
  }

  for (const [what, plaintext] of [
    ['text that is not XML', 'not < XML & at all'],
    ['a DTD', `<!DOCTYPE a><saml:Assertion xmlns:saml="${SAML}"/>`],
    ['a root that is not an Assertion', `<saml:Issuer xmlns:saml="${SAML}">x</saml:Issuer>`],
    ['a comment', `<saml:Assertion xmlns:saml="${SAML}"><!-- x --></saml:Assertion>`],
    ['elements nested too deep', `<saml:Assertion xmlns:saml="${SAML}">${'<a>'.repeat(40)}${'</a>'.repeat(40)}</saml:Assertion>`],
    ['an unsigned Assertion', `<saml:Assertion xmlns:saml="${SAML}" ID="_x" Version="2.0"/>`],
  ] as const) {
    it(`refuses a CBC ciphertext with good padding that decrypts to ${what} exactly as one with bad padding`, async () => {
      expect(await refusal(await encryptedPost(corp, spKey1.cert, { ...cbc, plaintext }))).toEqual(badPadding);
    });
  }
});

// node-saml finds the EncryptedAssertion, and xml-encryption its EncryptedData and
// EncryptedKey, by local name alone: any element the broker's own checks would not look at
// could be what the library decrypts, past those checks.
describe('the encryption elements the library reads are the ones the broker checked', () => {
  const XENC = 'http://www.w3.org/2001/04/xmlenc#';
  /** The EncryptedData of a fresh encryption of `plaintext` to spKey1, its xenc elements in `namespace`. */
  const encryptedData = async (plaintext: string, namespace = XENC) => {
    const xml = await encryptAssertion(corp.responseXml({}), spKey1.cert, { plaintext });
    return /<xenc:EncryptedData[\s\S]*<\/xenc:EncryptedData>/.exec(xml)![0].replaceAll(`="${XENC}"`, `="${namespace}"`);
  };
  const inside = (decoy: string) => (xml: string) => xml.replace('<saml:EncryptedAssertion>', `<saml:EncryptedAssertion>${decoy}`);

  it('refuses an EncryptedAssertion in another namespace, which node-saml would decrypt with a key of its choosing (assertion_missing)', async () => {
    const foreign = (xml: string) => xml.replaceAll('saml:EncryptedAssertion>', 'evil:EncryptedAssertion>').replace('<evil:EncryptedAssertion>', '<evil:EncryptedAssertion xmlns:evil="urn:evil">');
    await expectRefused(await encryptedPost(corp, spKey1.cert, {}, foreign), 'assertion_missing');
  });

  it('refuses a decoy EncryptedData in another namespace before the checked one (decryption_failed)', async () => {
    await expectRefused(await encryptedPost(corp, spKey1.cert, {}, inside(await encryptedData('<not-checked/>', 'urn:evil'))), 'decryption_failed');
  });

  it('refuses a decoy EncryptedData outside the EncryptedAssertion (decryption_failed)', async () => {
    const decoy = await encryptedData('<not-checked/>');
    await expectRefused(await encryptedPost(corp, spKey1.cert, {}, (xml) => xml.replace('<saml:EncryptedAssertion>', `${decoy}<saml:EncryptedAssertion>`)), 'decryption_failed');
  });

  it('refuses a decoy EncryptedKey in another namespace before the checked one (decryption_failed)', async () => {
    const keyInfo = /<KeyInfo[\s\S]*<\/KeyInfo>/.exec(await encryptedData('<x/>', 'urn:evil'))![0];
    await expectRefused(await encryptedPost(corp, spKey1.cert, {}, inside(keyInfo)), 'decryption_failed');
  });
});

describe('the checks on the assertion still bite once it is decrypted', () => {
  it('refuses a decrypted assertion whose response is addressed to another ACS (destination_mismatch)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const xml = await encryptAssertion(corp.signedResponse({ inResponseTo: requestId, destination: 'https://other-sp.example.com/acs' }), spKey1.cert);
    await expectRefused(await postToAcs(server.url, 'corp', xml), 'destination_mismatch');
  });

  it('refuses a decrypted assertion whose Recipient is another ACS (recipient_mismatch)', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const xml = await encryptAssertion(corp.signedResponse({ inResponseTo: requestId, recipient: 'https://other-sp.example.com/acs' }), spKey1.cert);
    await expectRefused(await postToAcs(server.url, 'corp', xml), 'recipient_mismatch');
  });

  it('refuses a comment inside the encrypted NameID (xml_comment), before any library reads it', async () => {
    const { requestId } = await startLogin(server.url, 'corp');
    const signed = corp.signedResponse({ inResponseTo: requestId, nameId: 'alice@example.com.evil.example' });
    const split = signed.replace('alice@example.com.evil.example</saml:NameID>', 'alice@example.com<!---->.evil.example</saml:NameID>');
    await expectRefused(await postToAcs(server.url, 'corp', await encryptAssertion(split, spKey1.cert)), 'xml_comment');
  });

  it('refuses the same encrypted assertion answered to a second login (replay)', async () => {
    const first = await startLogin(server.url, 'corp');
    const second = await startLogin(server.url, 'corp');
    const assertionId = '_replayed-encrypted-assertion';
    expect((await postToAcs(server.url, 'corp', await encryptAssertion(corp.signedResponse({ inResponseTo: first.requestId, assertionId }), spKey1.cert))).status).toBe(303);
    await expectRefused(await postToAcs(server.url, 'corp', await encryptAssertion(corp.signedResponse({ inResponseTo: second.requestId, assertionId }), spKey2.cert)), 'replay');
  });
});

describe('requireEncryptedAssertions needs an SP key', () => {
  it('refuses a config that requires encryption without saml.serviceProvider.keys, naming the key', async () => {
    const idp = await createTestIdp('lonely');
    expect(() => testConfig({ identityProviders: [{ ...idp.config, requireEncryptedAssertions: true }] })).toThrow(/identityProviders\.0\.requireEncryptedAssertions|requireEncryptedAssertions[\s\S]*saml\.serviceProvider\.keys/);
  });
});

/** Flips bits (`mask`) in one byte of the content ciphertext (EncryptedData's CipherValue, the last one): by default one in its middle; negative counts from the end. */
function flipCipherByte(xml: string, at?: number, mask = 0x01): string {
  const values = [...xml.matchAll(/<(?:\w+:)?CipherValue>([^<]+)<\/(?:\w+:)?CipherValue>/g)];
  const last = values.at(-1)!;
  const bytes = Buffer.from(last[1]!, 'base64');
  const index = at === undefined ? Math.floor(bytes.length / 2) : at < 0 ? bytes.length + at : at;
  bytes[index]! ^= mask;
  return xml.replace(last[1]!, bytes.toString('base64'));
}
