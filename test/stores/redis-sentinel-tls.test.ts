import { afterAll, beforeAll, describe, it } from 'vitest';
import { testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { expectAuditRoundTrip, expectRefusedAtStart, refusalAtStart, WRONG_PASSWORD } from '../support/configured-store.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { SENTINEL_MASTER_NAME, startSentinelSet } from '../support/redis-sentinel.js';
import type { SentinelSetHandle } from '../support/redis-sentinel.js';

// Each server takes the default user's password and an ACL user's: both ways of signing in are tried on one set.
const DATA = { requirepass: 'data-node-requirepass-4f1e9a', user: { username: 'portcullis', password: 'data-node-acl-password-7c2d51' } };
const SENTINEL = { requirepass: 'sentinel-requirepass-0b6e3f', user: { username: 'sentinel-client', password: 'sentinel-acl-password-93a7c4' } };
const PASSWORDS = [DATA.requirepass, DATA.user.password, SENTINEL.requirepass, SENTINEL.user.password];

describeWithRedis('store.redis through Sentinels, all on TLS only, with passwords on the data nodes and the Sentinels', () => {
  let tls: TestTls;
  let set: SentinelSetHandle;
  beforeAll(async () => {
    tls = await testTls();
    set = await startSentinelSet({ tls, auth: DATA, sentinelAuth: SENTINEL });
  }, 60_000);
  afterAll(async () => {
    await set?.stop();
  });

  const signIns = {
    'ACL users': { config: { username: DATA.user.username, sentinelUsername: SENTINEL.user.username }, files: { 'data-password': DATA.user.password, 'sentinel-password': SENTINEL.user.password } },
    requirepass: { config: {}, files: { 'data-password': DATA.requirepass, 'sentinel-password': SENTINEL.requirepass } },
  };
  /** `store.redis` as an operator writes it: passwords and the CA as files beside the config. */
  const storeConfig = (signIn: keyof typeof signIns, overrides: { files?: Record<string, string>; connectTimeoutMs?: number } = {}) =>
    [
      {
        sentinels: set.sentinels,
        name: SENTINEL_MASTER_NAME,
        ...signIns[signIn].config,
        password: '${file:data-password}',
        sentinelPassword: '${file:sentinel-password}',
        tls: true,
        ca: '${file:redis-ca.crt}',
        keyPrefix: uniquePrefix(),
        commandTimeoutMs: 2_000,
        connectTimeoutMs: overrides.connectTimeoutMs ?? 10_000,
      },
      { ...signIns[signIn].files, 'redis-ca.crt': tls.ca, ...overrides.files },
    ] as const;

  it.each(Object.keys(signIns) as (keyof typeof signIns)[])('with %s, finds the primary through the Sentinels, appends to the audit log and reads it back', async (signIn) => {
    await expectAuditRoundTrip(...storeConfig(signIn));
  });

  describe.concurrent('refuses to serve, logs why without a password, and refuses work', () => {
    it('with a wrong data-node password', async () => {
      const refusal = await refusalAtStart(...storeConfig('ACL users', { files: { 'data-password': WRONG_PASSWORD }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /WRONGPASS/, PASSWORDS);
    });

    it('with a wrong Sentinel password', async () => {
      const refusal = await refusalAtStart(...storeConfig('requirepass', { files: { 'sentinel-password': WRONG_PASSWORD }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /All sentinels are unreachable.*WRONGPASS/, PASSWORDS);
    });

    it('when the servers\' certificates come from a CA other than the configured one (verification is always on)', async () => {
      const other = await testTls();
      const refusal = await refusalAtStart(...storeConfig('ACL users', { files: { 'redis-ca.crt': other.ca }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /certificate signature failure/, PASSWORDS);
    });
  });
});
