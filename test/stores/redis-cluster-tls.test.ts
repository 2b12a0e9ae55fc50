import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, waitReady } from '../../server/stores/redis/connection.js';
import { testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { expectAuditRoundTrip, expectRefusedAtStart, refusalAtStart, WRONG_PASSWORD } from '../support/configured-store.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import type { RedisClusterHandle } from '../support/redis-cluster.js';

// Each node takes the default user's password and an ACL user's: both ways of signing in are tried on one Cluster.
/** Connections whose readiness is watched: eager node connections restarted most of them. */
const CONNECTS = 5;

const AUTH = { requirepass: 'cluster-requirepass-61d0b7', user: { username: 'portcullis', password: 'cluster-acl-password-c84f2e' } };

describeWithRedis('store.redis on a Cluster, every node on TLS only and behind a password', () => {
  let tls: TestTls;
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    tls = await testTls();
    cluster = await startRedisCluster({ security: { tls, auth: AUTH } });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const signIns = {
    'an ACL user': { config: { username: AUTH.user.username }, password: AUTH.user.password },
    requirepass: { config: {}, password: AUTH.requirepass },
  };
  /** `store.redis` as an operator writes it: the password and the CA as files beside the config; one node named, the others learnt. */
  const storeConfig = (signIn: keyof typeof signIns, overrides: { files?: Record<string, string>; connectTimeoutMs?: number } = {}) =>
    [
      {
        nodes: cluster.nodes.slice(0, 1),
        ...signIns[signIn].config,
        password: '${file:redis-password}',
        tls: true,
        ca: '${file:redis-ca.crt}',
        keyPrefix: uniquePrefix(),
        commandTimeoutMs: 2_000,
        connectTimeoutMs: overrides.connectTimeoutMs ?? 10_000,
      },
      { 'redis-password': signIns[signIn].password, 'redis-ca.crt': tls.ca, ...overrides.files },
    ] as const;

  it.each(Object.keys(signIns) as (keyof typeof signIns)[])('with %s, learns the slots, appends to the audit log and reads it back', async (signIn) => {
    await expectAuditRoundTrip(...storeConfig(signIn));
  });

  it('gets ready without starting over: the readiness check waits for a node\'s TLS handshake rather than failing on it', async () => {
    for (let i = 0; i < CONNECTS; i++) {
      const client = connectRedis({ nodes: cluster.nodes.slice(0, 1), ...AUTH.user, tls: true, ca: tls.ca, commandTimeoutMs: 2_000, connectTimeoutMs: 10_000 });
      let restarts = 0;
      client.on('reconnecting', () => restarts++);
      try {
        await waitReady(client, 10_000);
        expect(restarts).toBe(0);
      } finally {
        client.disconnect();
      }
    }
  });

  describe.concurrent('refuses to serve, logs why without a password, and refuses work', () => {
    it('with a wrong password', async () => {
      const refusal = await refusalAtStart(...storeConfig('an ACL user', { files: { 'redis-password': WRONG_PASSWORD }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /WRONGPASS/, [AUTH.requirepass, AUTH.user.password]);
    });

    it('when the nodes\' certificates come from a CA other than the configured one (verification is always on)', async () => {
      const other = await testTls();
      const refusal = await refusalAtStart(...storeConfig('an ACL user', { files: { 'redis-ca.crt': other.ca }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /certificate signature failure/, [AUTH.requirepass, AUTH.user.password]);
    });
  });
});
