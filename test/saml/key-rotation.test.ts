import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signElement } from '../../server/dev-idp/saml-response.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { fingerprintOf } from '../../server/saml/key-rotation.js';
import type { Stores } from '../../server/stores/types.js';
import { selfSignedCertificate } from '../support/certificates.js';
import type { KeyPair } from '../support/certificates.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { configTrusting, createTestIdp, postToAcs, startLogin } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

let corp: TestIdp;
let idpNext: KeyPair;
let spOld: KeyPair;
let spNew: KeyPair;

beforeAll(async () => {
  [corp, idpNext, spOld, spNew] = await Promise.all([createTestIdp('corp'), selfSignedCertificate('corp-idp-next'), selfSignedCertificate('sp-old'), selfSignedCertificate('sp-new')]);
});

const running: TestServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

describe('several pinned IdP certificates', () => {
  it('accepts a response signed with either of two pinned certificates', async () => {
    const server = await startTestServer({ config: configTrusting([{ ...corp, config: { ...corp.config, idpCert: [corp.key.cert, idpNext.cert] } }]) });
    running.push(server);
    for (const key of [corp.key, idpNext]) {
      const { requestId } = await startLogin(server.url, 'corp');
      const result = await postToAcs(server.url, 'corp', signElement(corp.responseXml({ inResponseTo: requestId }), 'Assertion', key));
      expect(result.status).toBe(303);
    }
  });
});

/** Starts, stops and starts again a broker over the same store, with the config `configure` gives for each start. */
function rotationSuite(storesFor: (config: PortcullisConfig) => Promise<Stores | undefined>) {
  const spKeys = (...pairs: KeyPair[]) => ({ saml: { serviceProvider: { keys: pairs.map((k) => ({ privateKey: k.privateKey, certificate: k.cert })) } } });

  async function startTwice(first: PortcullisConfig, second: PortcullisConfig) {
    const stores = await storesFor(first);
    const a = await startTestServer({ config: first, ...(stores ? { stores } : {}) });
    await a.close();
    const b = await startTestServer({ config: { ...second, store: first.store }, ...(stores ? { stores: await storesFor(first) } : {}) });
    running.push(b);
    return (await b.stores.audit.read({ limit: 100_000 })).filter((e) => e.type.endsWith('.keys_rotated'));
  }

  it('audits the SP keys rolled between two starts once: added, removed and the signing key', async () => {
    const rotations = await startTwice(configTrusting([corp], spKeys(spOld)), configTrusting([corp], spKeys(spNew, spOld)));
    expect(rotations.map((e) => [e.type, e.actor, e.data])).toEqual([['auth.sp.keys_rotated', null, { added: [fingerprintOf(spNew.cert)], removed: [], signing: fingerprintOf(spNew.cert) }]]);
  });

  it('audits pinned IdP certificates changed between two starts once, as from the config', async () => {
    const rotations = await startTwice(configTrusting([corp]), configTrusting([{ ...corp, config: { ...corp.config, idpCert: [idpNext.cert] } }]));
    expect(rotations.map((e) => [e.type, e.data])).toEqual([['auth.idp.keys_rotated', { idp: 'corp', added: [fingerprintOf(idpNext.cert)], removed: [fingerprintOf(corp.key.cert)], source: 'config' }]]);
  });

  it('audits nothing when a start finds the keys it recorded', async () => {
    const config = configTrusting([corp], spKeys(spOld, spNew));
    expect(await startTwice(config, config)).toEqual([]);
  });
}

describe('key rotations recorded across restarts (embedded store)', () => {
  rotationSuite(async () => undefined);
});

describeWithRedis('key rotations recorded across restarts (Redis store)', () => {
  let prefix = '';
  rotationSuite(async () => {
    prefix ||= uniquePrefix();
    return redisStoresForTest({ prefix });
  });
  afterEach(() => {
    prefix = '';
  });
});
