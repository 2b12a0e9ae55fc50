import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spUrls } from '../../server/saml/sp-urls.js';
import { selfSignedCertificate, testTls } from '../support/certificates.js';
import { startMetadataServer } from '../support/idp-metadata-server.js';
import type { KeyPair } from '../support/certificates.js';
import { describeWithSimpleSamlPhp, MAIL_OID, simpleSamlPhpForFile } from '../support/simplesamlphp.js';
import type { SimpleSamlPhpIdp, SimpleSamlPhpServiceProvider, SimpleSamlPhpUser } from '../support/simplesamlphp.js';
import { authnRequestUrl, loginAtSimpleSamlPhp } from '../support/simplesamlphp-login.js';
import type { IdpAnswer } from '../support/simplesamlphp-login.js';
import { postToAcs, startLogin, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { AcsResult } from '../support/test-idp.js';
import { postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/**
 * SimpleSAMLphp (Debian's package) as a second IdP, independent of our own test IdP: its
 * own users, keys, signing and encryption, answering a real broker over loopback.
 */

const ALICE: SimpleSamlPhpUser = {
  username: 'alice',
  password: 'alice-password',
  attributes: { uid: ['alice'], mail: ['alice@example.com'], displayName: ['Alice Example'], eduPersonAffiliation: ['member', 'staff'] },
};
const BOB: SimpleSamlPhpUser = {
  username: 'bob',
  password: 'bob-password',
  attributes: { uid: ['bob'], mail: ['bob@example.com'], displayName: ['Bob Example'], eduPersonAffiliation: ['member', 'student'] },
};
const AFFILIATION_OID = 'urn:oid:1.3.6.1.4.1.5923.1.1.1.1';
const DISPLAY_NAME_OID = 'urn:oid:2.16.840.1.113730.3.1.241';

/** Each broker IdP entry is one SimpleSAMLphp sp-remote entry: its own entity id and ACS. */
const spOf = (idpId: string, options: Omit<SimpleSamlPhpServiceProvider, 'entityId' | 'acsUrl'>): SimpleSamlPhpServiceProvider => ({
  entityId: `https://portcullis.example.com/saml/${idpId}`,
  acsUrl: spUrls(TEST_PUBLIC_URL, idpId).acs,
  ...options,
});
/** A service provider that is not us, at another origin. */
const OTHER_SP: SimpleSamlPhpServiceProvider = { entityId: 'https://other-sp.example.net/metadata', acsUrl: 'https://other-sp.example.net/saml/acs', signAssertion: true, signResponse: true };

const ROLES = [{ name: 'staff-tools', members: { groups: ['staff'] } }];
const NAMED_ATTRIBUTES = { email: 'mail', displayName: 'displayName', groups: 'eduPersonAffiliation' };

/** The broker's keys, for the encrypted cases: SimpleSAMLphp encrypts to the certificate. */
let spKeys: KeyPair;
let strangerKeys: KeyPair;
/** Started before the tests (in the suite below, so that it is skipped with them). */
let ssp: { readonly idp: SimpleSamlPhpIdp };
const brokers: TestServer[] = [];

const SPS = {
  'ssp-assertion': { signAssertion: true, signResponse: false },
  'ssp-response': { signAssertion: false, signResponse: true },
  'ssp-both': { signAssertion: true, signResponse: true },
  'ssp-oid': { signAssertion: true, signResponse: true, oidAttributeNames: true },
  'ssp-plain': { signAssertion: true, signResponse: true },
} as const;

/** A broker trusting SimpleSAMLphp as IdP `idpId`, configured from the IdP's published metadata. */
async function brokerFor(idpId: string, options: { attributes?: Record<string, string>; idp?: Record<string, unknown>; config?: Record<string, unknown> } = {}): Promise<TestServer> {
  const server = await startTestServer({
    config: testConfig({
      server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
      identityProviders: [
        {
          id: idpId,
          displayName: 'SimpleSAMLphp',
          entryPoint: ssp.idp.metadata.ssoUrl,
          idpIssuer: ssp.idp.metadata.entityId,
          idpCert: ssp.idp.metadata.signingCert,
          spEntityId: spOf(idpId, { signAssertion: true, signResponse: true }).entityId,
          attributes: options.attributes ?? NAMED_ATTRIBUTES,
          ...options.idp,
        },
      ],
      roles: ROLES,
      ...options.config,
    }),
  });
  brokers.push(server);
  return server;
}

/** Starts a sign-in at the broker and signs `user` in at SimpleSAMLphp: the response it answers with. */
async function answerFor(server: TestServer, idpId: string, user: SimpleSamlPhpUser, returnTo = '/'): Promise<IdpAnswer> {
  const { location } = await startLogin(server.url, idpId, returnTo);
  const answer = await loginAtSimpleSamlPhp(location, user, () => ssp.idp.logTail());
  // SimpleSAMLphp posts to the ACS the broker asked for (and its metadata names).
  expect(answer.action).toBe(spUrls(TEST_PUBLIC_URL, idpId).acs);
  return answer;
}

async function signInThrough(server: TestServer, idpId: string, user: SimpleSamlPhpUser, returnTo = '/'): Promise<AcsResult> {
  const answer = await answerFor(server, idpId, user, returnTo);
  return postToAcs(server.url, idpId, answer.xml, answer.relayState ?? undefined);
}

async function me(server: TestServer, cookie: string | null): Promise<unknown> {
  expect(cookie).not.toBeNull();
  return (await postGraphQL(server.url, { query: '{ me { id email displayName idp groups roles } }' }, { cookie: cookie! })).body;
}

/** Posts `xml` to the ACS and expects a clean refusal: 401, no cookie, one `auth.login` DENIED with `reason` (a code, or a matcher). */
async function expectRefused(server: TestServer, idpId: string, xml: string, reason: unknown): Promise<void> {
  const before = (await server.stores.audit.read({ limit: 10_000 })).length;
  const result = await postToAcs(server.url, idpId, xml);
  expect(result.status).toBe(401);
  expect(result.cookie).toBeNull();
  const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
  expect(events.map((e) => [e.type, e.outcome, e.actor, e.data])).toEqual([['auth.login', 'DENIED', null, { idp: idpId, reason, clientAddress: '127.0.0.1' }]]);
}

const select = xpath.useNamespaces({ samlp: 'urn:oasis:names:tc:SAML:2.0:protocol', saml: 'urn:oasis:names:tc:SAML:2.0:assertion', ds: 'http://www.w3.org/2000/09/xmldsig#' });

/** Which of the Response and its Assertion carry an enveloped signature of their own. */
function signedElements(xml: string): string[] {
  const doc = new DOMParser().parseFromString(xml, 'application/xml') as unknown as Node;
  return (['Response', 'Assertion'] as const).filter((element) => select(`count(${element === 'Response' ? '/samlp:Response' : '/samlp:Response/saml:Assertion'}/ds:Signature)`, doc) === 1);
}

describeWithSimpleSamlPhp('SimpleSAMLphp (Debian package) as IdP', () => {
  beforeAll(async () => {
    [spKeys, strangerKeys] = await Promise.all([selfSignedCertificate('portcullis-sp'), selfSignedCertificate('someone-else')]);
  });
  ssp = simpleSamlPhpForFile(() => ({
    users: [ALICE, BOB],
    serviceProviders: [
      ...Object.entries(SPS).map(([id, options]) => spOf(id, options)),
      spOf('ssp-encrypted', { signAssertion: true, signResponse: true, encryptTo: spKeys.cert }),
      spOf('ssp-stranger', { signAssertion: true, signResponse: true, encryptTo: strangerKeys.cert }),
      OTHER_SP,
    ],
  }));
  afterAll(() => Promise.all(brokers.map((b) => b.close())));

  describe('signatures', () => {
    it('signs in with the assertion signed (not the response): cookie, returnTo, identity from SimpleSAMLphp attributes', async () => {
      const server = await brokerFor('ssp-assertion');
      const answer = await answerFor(server, 'ssp-assertion', ALICE, '/requests');
      expect(signedElements(answer.xml)).toEqual(['Assertion']);
      const result = await postToAcs(server.url, 'ssp-assertion', answer.xml, answer.relayState ?? undefined);
      expect(result.status).toBe(303);
      expect(result.location).toBe('/requests');
      expect(await me(server, result.cookie)).toEqual({
        data: { me: { id: 'ssp-assertion:alice@example.com', email: 'alice@example.com', displayName: 'Alice Example', idp: 'ssp-assertion', groups: ['member', 'staff'], roles: ['staff-tools'] } },
      });
    });

    it('signs in with both the response and the assertion signed', async () => {
      const server = await brokerFor('ssp-both');
      const answer = await answerFor(server, 'ssp-both', ALICE);
      expect(signedElements(answer.xml)).toEqual(['Response', 'Assertion']);
      const result = await postToAcs(server.url, 'ssp-both', answer.xml, answer.relayState ?? undefined);
      expect(result.status).toBe(303);
      expect(await me(server, result.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', roles: ['staff-tools'] } } });
    });

    it('signs in with only the response signed (its signature covers the assertion)', async () => {
      const server = await brokerFor('ssp-response');
      const answer = await answerFor(server, 'ssp-response', ALICE);
      expect(signedElements(answer.xml)).toEqual(['Response']);
      const result = await postToAcs(server.url, 'ssp-response', answer.xml, answer.relayState ?? undefined);
      expect(result.status).toBe(303);
      expect(await me(server, result.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', roles: ['staff-tools'] } } });
    });

    it('refuses a response signed only on the Response where requireSignedAssertions: 401, audited as signature_invalid', async () => {
      const server = await brokerFor('ssp-response', { idp: { requireSignedAssertions: true } });
      const answer = await answerFor(server, 'ssp-response', ALICE);
      expect(signedElements(answer.xml)).toEqual(['Response']);
      await expectRefused(server, 'ssp-response', answer.xml, 'signature_invalid');
    });
  });

  describe('configured by its metadata URL', () => {
    it("signs in with the keys and SSO URL read from SimpleSAMLphp's own metadata document, fetched over https", async () => {
      // php -S speaks no TLS: SimpleSAMLphp's document, byte for byte, is served by an https server with a test CA.
      const tls = await testTls();
      const metadata = await startMetadataServer(tls);
      try {
        metadata.serve(await (await fetch(ssp.idp.metadataUrl)).text());
        const server = await brokerFor('ssp-both', {
          idp: { entryPoint: undefined, idpCert: undefined, metadataUrl: metadata.url, metadataCa: tls.ca, metadataAllowPrivateNetwork: true },
        });
        const result = await signInThrough(server, 'ssp-both', ALICE);
        expect(result.status).toBe(303);
        expect(await me(server, result.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', roles: ['staff-tools'] } } });
        expect(metadata.fetches).toBeGreaterThanOrEqual(1);
      } finally {
        await metadata.close();
      }
    });
  });

  describe('attribute and group mapping', () => {
    it("maps SimpleSAMLphp's groups (eduPersonAffiliation) to roles: staff gets the staff role, a student does not", async () => {
      const server = await brokerFor('ssp-both');
      const alice = await signInThrough(server, 'ssp-both', ALICE);
      const bob = await signInThrough(server, 'ssp-both', BOB);
      expect(await me(server, alice.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', groups: ['member', 'staff'], roles: ['staff-tools'] } } });
      expect(await me(server, bob.cookie)).toMatchObject({ data: { me: { email: 'bob@example.com', groups: ['member', 'student'], roles: [] } } });
    });

    it('maps attributes by their urn:oid names (name2oid, NameFormat uri)', async () => {
      const server = await brokerFor('ssp-oid', { attributes: { email: MAIL_OID, displayName: DISPLAY_NAME_OID, groups: AFFILIATION_OID } });
      const answer = await answerFor(server, 'ssp-oid', ALICE);
      expect(answer.xml).toContain(`Name="${MAIL_OID}"`);
      expect(answer.xml).not.toContain('Name="mail"');
      const result = await postToAcs(server.url, 'ssp-oid', answer.xml, answer.relayState ?? undefined);
      expect(result.status).toBe(303);
      expect(await me(server, result.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', displayName: 'Alice Example', groups: ['member', 'staff'], roles: ['staff-tools'] } } });
    });

    it("refuses an email outside the IdP's emailDomains, though SimpleSAMLphp signed it", async () => {
      const server = await brokerFor('ssp-both', { idp: { emailDomains: ['example.org'] } });
      const answer = await answerFor(server, 'ssp-both', ALICE);
      await expectRefused(server, 'ssp-both', answer.xml, 'email_domain_not_allowed');
    });
  });

  describe('refusals', () => {
    it('refuses a response whose NameID was changed after SimpleSAMLphp signed it', async () => {
      const server = await brokerFor('ssp-assertion');
      const answer = await answerFor(server, 'ssp-assertion', BOB);
      const tampered = answer.xml.replace(/(<saml:NameID\b[^>]*>)bob@example\.com</, '$1alice@example.com<');
      expect(tampered).not.toBe(answer.xml);
      await expectRefused(server, 'ssp-assertion', tampered, 'signature_invalid');
    });

    it('refuses a response whose group attribute was changed after SimpleSAMLphp signed it', async () => {
      const server = await brokerFor('ssp-assertion');
      const answer = await answerFor(server, 'ssp-assertion', BOB);
      const tampered = answer.xml.replace(/>student</, '>staff<');
      expect(tampered).not.toBe(answer.xml);
      await expectRefused(server, 'ssp-assertion', tampered, 'signature_invalid');
    });

    it("refuses a response SimpleSAMLphp issued for another SP, even one answering the broker's own pending request id", async () => {
      const server = await brokerFor('ssp-assertion');
      const { requestId } = await startLogin(server.url, 'ssp-assertion');
      const answer = await loginAtSimpleSamlPhp(authnRequestUrl(ssp.idp.metadata.ssoUrl, { id: requestId, issuer: OTHER_SP.entityId, acsUrl: OTHER_SP.acsUrl }), ALICE, () => ssp.idp.logTail());
      expect(answer.action).toBe(OTHER_SP.acsUrl);
      expect(answer.xml).toContain(`InResponseTo="${requestId}"`);
      await expectRefused(server, 'ssp-assertion', answer.xml, 'audience_mismatch');
    });

    it('refuses an IdP-initiated (unsolicited) response SimpleSAMLphp sends unasked', async () => {
      const server = await brokerFor('ssp-assertion');
      const unsolicited = new URL(ssp.idp.metadata.ssoUrl);
      unsolicited.searchParams.set('spentityid', spOf('ssp-assertion', SPS['ssp-assertion']).entityId);
      const answer = await loginAtSimpleSamlPhp(unsolicited, ALICE, () => ssp.idp.logTail());
      expect(answer.xml).not.toContain('InResponseTo=');
      await expectRefused(server, 'ssp-assertion', answer.xml, 'unsolicited_response');
    });

    it('refuses a response replayed after it signed someone in', async () => {
      const server = await brokerFor('ssp-assertion');
      const answer = await answerFor(server, 'ssp-assertion', ALICE);
      expect((await postToAcs(server.url, 'ssp-assertion', answer.xml)).status).toBe(303);
      await expectRefused(server, 'ssp-assertion', answer.xml, 'in_response_to_unknown');
    });
  });

  /**
   * Encrypted assertions need the broker's decryption (saml.serviceProvider.keys,
   * identityProviders[].requireEncryptedAssertions), built in another part of issue 18
   * (branch i18-keys): until it is merged these fail at the broker's config.
   * SimpleSAMLphp 1.19 encrypts to a certificate with AES-128-CBC and RSA-OAEP-MGF1P only
   * (AES-GCM needs a shared key), so there is no GCM case here.
   */
  describe('encrypted assertions', () => {
    const encryptedBroker = (idpId: string) => brokerFor(idpId, { idp: { requireEncryptedAssertions: true }, config: { saml: { serviceProvider: { keys: [{ privateKey: spKeys.privateKey, certificate: spKeys.cert }] } } } });

    it("signs in with an assertion SimpleSAMLphp encrypted to the SP's certificate (AES-128-CBC, RSA-OAEP-MGF1P)", async () => {
      const server = await encryptedBroker('ssp-encrypted');
      const answer = await answerFor(server, 'ssp-encrypted', ALICE);
      expect(answer.xml).toMatch(/<saml:EncryptedAssertion\b/);
      expect(answer.xml).not.toMatch(/<saml:Assertion\b/);
      expect(answer.xml).toContain('Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"');
      expect(answer.xml).toContain('Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"');
      const result = await postToAcs(server.url, 'ssp-encrypted', answer.xml, answer.relayState ?? undefined);
      expect(result.status).toBe(303);
      expect(await me(server, result.cookie)).toMatchObject({ data: { me: { email: 'alice@example.com', groups: ['member', 'staff'], roles: ['staff-tools'] } } });
    });

    it('refuses a plain assertion when the IdP is required to encrypt', async () => {
      const server = await encryptedBroker('ssp-plain');
      const answer = await answerFor(server, 'ssp-plain', ALICE);
      expect(answer.xml).not.toMatch(/EncryptedAssertion/);
      await expectRefused(server, 'ssp-plain', answer.xml, 'assertion_not_encrypted');
    });

    it("refuses an assertion encrypted to a key that is not the SP's", async () => {
      const server = await encryptedBroker('ssp-stranger');
      const answer = await answerFor(server, 'ssp-stranger', ALICE);
      expect(answer.xml).toMatch(/<saml:EncryptedAssertion\b/);
      await expectRefused(server, 'ssp-stranger', answer.xml, 'decryption_failed');
    });
  });
});
