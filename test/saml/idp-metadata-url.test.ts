import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signElement } from '../../server/dev-idp/saml-response.js';
import type { SigningKey } from '../../server/dev-idp/saml-response.js';
import { fingerprintOf } from '../../server/saml/key-rotation.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import { selfSignedCertificate, testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { idpMetadataXml, startMetadataServer } from '../support/idp-metadata-server.js';
import type { MetadataServer } from '../support/idp-metadata-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { configTrusting, createTestIdp, postToAcs, startLogin } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const SSO = 'https://corp.idp.example.com/sso';

let tls: TestTls;
let corp: TestIdp;
let keys: SigningKey[];
let metadata: MetadataServer;
let server: TestServer;
let clock: ManualClock;

beforeAll(async () => {
  [tls, corp, ...keys] = await Promise.all([testTls(), createTestIdp('corp'), selfSignedCertificate('corp-idp-2'), selfSignedCertificate('corp-idp-3'), selfSignedCertificate('corp-idp-4')]);
  keys = [corp.key, ...keys];
  metadata = await startMetadataServer(tls);
});
afterAll(() => metadata.close());
const running: TestServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

/** The IdP configured by its metadata URL only (no entryPoint, no idpCert). */
function metadataIdpConfig(overrides: Record<string, unknown> = {}) {
  const { entryPoint: _entryPoint, idpCert: _idpCert, ...rest } = corp.config;
  return { ...rest, metadataUrl: metadata.url, metadataCa: tls.ca, metadataAllowPrivateNetwork: true, ...overrides };
}

const publish = (...certificates: string[]) => metadata.serve(idpMetadataXml({ entityId: corp.issuer, ssoUrl: SSO, certificates }));

async function start(overrides: Record<string, unknown> = {}, configOverrides: Record<string, unknown> = {}) {
  clock = new ManualClock();
  const config = configTrusting([], { identityProviders: [metadataIdpConfig(overrides)], ...configOverrides });
  server = await startTestServer({ clock, config });
  running.push(server);
  return config;
}

/** A fresh login, answered by a response whose assertion `key` signed. */
async function signedBy(key: SigningKey) {
  const { requestId } = await startLogin(server.url, 'corp');
  return postToAcs(server.url, 'corp', signElement(corp.responseXml({ inResponseTo: requestId }), 'Assertion', key));
}

async function events(type: string) {
  return (await server.stores.audit.read({ limit: 100_000 })).filter((e) => e.type === type);
}

async function expectRefused(result: { status: number }, reason: RefusalCode) {
  expect(result.status).toBe(401);
  expect((await events('auth.login')).at(-1)?.data).toEqual({ idp: 'corp', reason, clientAddress: '127.0.0.1' });
}

describe('an IdP configured by its metadata URL', () => {
  it('signs in with the certificate and SSO URL its metadata publishes', async () => {
    publish(keys[0]!.cert);
    await start();
    const { location } = await startLogin(server.url, 'corp');
    expect(`${location.origin}${location.pathname}`).toBe(SSO);
    expect((await signedBy(keys[0]!)).status).toBe(303);
    expect((await signedBy(keys[1]!)).status).toBe(401);
  });

  it('accepts a response signed with a rolled key once the refresh its signature failure asks for brings the new certificate, and audits the rotation once', async () => {
    publish(keys[0]!.cert);
    await start();
    publish(keys[1]!.cert);
    const fetched = metadata.fetches;
    // The same POST: refused with the old certificate, re-checked once with the new one.
    expect((await signedBy(keys[1]!)).status).toBe(303);
    expect(metadata.fetches).toBe(fetched + 1);
    expect((await signedBy(keys[1]!)).status).toBe(303);
    expect((await signedBy(keys[0]!)).status).toBe(401);
    const rotations = await events('auth.idp.keys_rotated');
    expect(rotations.map((e) => [e.outcome, e.actor, e.data])).toEqual([['SUCCESS', null, { idp: 'corp', added: [fingerprintOf(keys[1]!.cert)], removed: [fingerprintOf(keys[0]!.cert)], source: 'metadata' }]]);
  });

  it('refetches on a signature failure at most once a minute per IdP', async () => {
    publish(keys[0]!.cert);
    await start();
    const fetched = metadata.fetches;
    await expectRefused(await signedBy(keys[2]!), 'signature_invalid');
    expect(metadata.fetches).toBe(fetched + 1);
    publish(keys[2]!.cert);
    clock.advance(59_000);
    await expectRefused(await signedBy(keys[2]!), 'signature_invalid');
    expect(metadata.fetches).toBe(fetched + 1);
    clock.advance(1_000);
    expect((await signedBy(keys[2]!)).status).toBe(303);
    expect(metadata.fetches).toBe(fetched + 2);
  });

  it('lets idpIssuer pin the entity: metadata naming another entityID is not used', async () => {
    metadata.serve(idpMetadataXml({ entityId: 'https://impostor.example.com/metadata', ssoUrl: SSO, certificates: [keys[0]!.cert] }));
    await start();
    expect((await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' })).status).toBe(503);
    expect(server.logs.join('\n')).toContain('its entityID is not the configured idpIssuer');
  });
});

describe('a metadata fetch that fails keeps the last good copy', () => {
  const failures: [string, () => void, string][] = [
    ['an unreachable server (connection dropped)', () => metadata.serve((res) => res.socket?.destroy()), 'could not be reached'],
    ['an error status', () => metadata.serve((res) => res.writeHead(500).end()), 'answered 500'],
    ['a redirect', () => metadata.serve((res) => res.writeHead(302, { location: 'http://127.0.0.1:1/metadata' }).end()), 'answered 302'],
    ['a document over 1 MiB', () => metadata.serve(`<x>${'a'.repeat(1024 * 1024 + 1)}</x>`), 'larger than 1048576 bytes'],
    ['malformed XML', () => metadata.serve('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><a></b></md:EntityDescriptor>'), 'not well-formed'],
    ['metadata without a signing certificate', () => publish(), 'no signing certificate'],
    ['an SSO URL in plain http to another host', () => metadata.serve(idpMetadataXml({ entityId: corp.issuer, ssoUrl: 'http://idp.example.com/sso', certificates: [keys[3]!.cert] })), 'no https SingleSignOnService'],
  ];
  for (const [what, fail, reason] of failures) {
    it(`keeps signing in with the last good certificate after ${what}, and logs why`, async () => {
      publish(keys[0]!.cert);
      await start();
      fail();
      const fetched = metadata.fetches;
      await expectRefused(await signedBy(keys[3]!), 'signature_invalid');
      expect(metadata.fetches).toBe(fetched + 1);
      expect(server.logs.join('\n')).toContain(reason);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('portcullis_saml_metadata_fetch_failures_total{idp="corp"} 1');
      expect((await signedBy(keys[0]!)).status).toBe(303);
      expect(await events('auth.idp.keys_rotated')).toEqual([]);
    });
  }
});

describe('the last good copy across a restart', () => {
  it('starts with the copy the store kept when the metadata server is down at start', async () => {
    publish(keys[0]!.cert);
    const { dataDir } = (await start()).store;
    await Promise.all(running.splice(0).map((s) => s.close()));
    metadata.serve((res) => res.writeHead(503).end());
    await start({}, { store: { dataDir } });
    expect(server.logs.join('\n')).toContain('answered 503');
    expect((await signedBy(keys[0]!)).status).toBe(303);
  });
});

describe('an IdP whose metadata was never fetched', () => {
  it('refuses a metadata host on a private address unless metadataAllowPrivateNetwork: the broker starts, the IdP is unavailable', async () => {
    publish(keys[0]!.cert);
    await start({ metadataAllowPrivateNetwork: false });
    expect(server.logs.join('\n')).toContain('points into a private network');
    expect((await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' })).status).toBe(503);
    await expectRefused(await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: '_any' })), 'idp_unavailable');
    expect((await fetch(`${server.url}/healthz`)).status).toBeLessThan(500);
  });

  it('refuses a metadata server whose certificate the configured CA did not issue', async () => {
    publish(keys[0]!.cert);
    const other = await testTls();
    await start({ metadataCa: other.ca });
    expect(server.logs.join('\n')).toContain('the TLS certificate of the metadata URL could not be verified');
    expect((await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' })).status).toBe(503);
  });

  it('gives up on a host that accepts the connection but never completes TLS', async () => {
    const silent = createNetServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      await start({ metadataUrl: `https://127.0.0.1:${(silent.address() as AddressInfo).port}/metadata` });
      expect(server.logs.join('\n')).toContain('no connection within');
      expect((await fetch(`${server.url}/auth/saml/corp/login`, { redirect: 'manual' })).status).toBe(503);
    } finally {
      silent.close();
    }
  });

  it('refuses a metadataUrl that is not https at load', async () => {
    expect(() => configTrusting([], { identityProviders: [metadataIdpConfig({ metadataUrl: 'http://127.0.0.1/metadata' })] })).toThrow(/metadataUrl[\s\S]*https/);
  });
});
