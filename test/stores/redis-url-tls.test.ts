import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../server/stores/redis/connection.js';
import { testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { expectAuditRoundTrip, expectRefusedAtStart, refusalAtStart, WRONG_PASSWORD } from '../support/configured-store.js';
import { describeWithRedis, uniquePrefix } from '../support/redis.js';
import { secureTopology } from '../support/redis-security.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';

const USER = { username: 'portcullis', password: 'single-node-acl-password-3e9d70' };
const HANDSHAKES_CUT_SHORT = 50;

describeWithRedis('store.redis.url as rediss:// to one Redis on TLS only, with the password in the URL', () => {
  let tls: TestTls;
  let dir: string;
  let server: RedisServerHandle;
  beforeAll(async () => {
    tls = await testTls();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-tls-'));
    const secured = await secureTopology({ tls, auth: { user: USER } }, dir);
    server = await startRedisServer((port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...secured.dataNodeArgs(port)], secured.server);
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The URL with the password by reference, and the CA, as files beside the config. */
  const storeConfig = (overrides: { files?: Record<string, string>; connectTimeoutMs?: number } = {}) =>
    [
      { url: `rediss://${USER.username}:\${file:redis-password}@127.0.0.1:${server.port}`, ca: '${file:redis-ca.crt}', keyPrefix: uniquePrefix(), commandTimeoutMs: 2_000, connectTimeoutMs: overrides.connectTimeoutMs ?? 10_000 },
      { 'redis-password': USER.password, 'redis-ca.crt': tls.ca, ...overrides.files },
    ] as const;

  it('connects, appends to the audit log and reads it back', async () => {
    await expectAuditRoundTrip(...storeConfig());
  });

  describe.concurrent('refuses to serve, logs why without a password, and refuses work', () => {
    it('with a wrong password', async () => {
      const refusal = await refusalAtStart(...storeConfig({ files: { 'redis-password': WRONG_PASSWORD }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /WRONGPASS/, [USER.password]);
    });

    it('when the server\'s certificate comes from a CA other than the configured one (verification is always on)', async () => {
      const other = await testTls();
      const refusal = await refusalAtStart(...storeConfig({ files: { 'redis-ca.crt': other.ca }, connectTimeoutMs: 3_000 }));
      expectRefusedAtStart(refusal, /certificate signature failure/, [USER.password]);
    });
  });

  it('survives connections closed mid-handshake to a server it refuses (a failed TLS socket can report twice; ioredis listens once)', async () => {
    const other = await testTls();
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      // About one such socket in five reports a second error (measured): fifty leave no room for luck.
      for (let i = 0; i < HANDSHAKES_CUT_SHORT; i++) {
        const client = connectRedis({ url: `rediss://127.0.0.1:${server.port}`, ca: other.ca, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
        await new Promise((resolve) => setImmediate(resolve));
        client.disconnect();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
  });
});
