import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { withRedisClient } from '../support/audit-store-access.js';
import { runCli } from '../support/cli.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { auditKeys } from '../../server/stores/redis/stream-audit-log.js';

function configFile(dir: string, store: string, extra = ''): string {
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, `server: { publicUrl: "http://127.0.0.1:8080" }\nstore: ${store}\n${extra}\n`);
  return file;
}

async function fill(stores: { audit: { append: (e: { type: string; outcome: 'SUCCESS'; actor: string; data: Record<string, unknown> }) => Promise<unknown> }; close: () => Promise<void> }) {
  for (let n = 0; n < 5; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
  await stores.close();
}

describe('portcullis audit verify (embedded store)', () => {
  const setup = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-verify-'));
    await fill(await createEmbeddedStores({ dataDir: join(dir, 'data'), clock: new ManualClock() }));
    return { dir, config: configFile(dir, '{ dataDir: ./data }'), log: join(dir, 'data', AUDIT_FILE_NAME) };
  };

  it('reports an intact chain with exit 0', async () => {
    const { config } = await setup();
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^audit log intact: 5 events, last cursor 5, head [0-9a-f]{64}$/m);
  });

  it('verifies a log trimmed by retention from its recorded chain start', async () => {
    const { dir } = await setup();
    const stores = await createEmbeddedStores({ dataDir: join(dir, 'data'), clock: new ManualClock(), audit: { retention: true } });
    expect(await stores.audit.trim({ keep: 2 })).toBe(3);
    await stores.close();
    const result = await runCli(['audit', 'verify', '--config', configFile(dir, '{ dataDir: ./data }', 'audit: { retention: { maxEvents: 2 } }')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit log intact: 2 events, last cursor 5/);
  });

  it('catches an edited event', async () => {
    const { config, log } = await setup();
    writeFileSync(log, readFileSync(log, 'utf8').replace('"data":{"n":2}', '"data":{"n":20}'));
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/audit log BROKEN at event 3 \(#3\): hash does not match its content/);
  });

  it('catches a deleted event', async () => {
    const { config, log } = await setup();
    const lines = readFileSync(log, 'utf8').split('\n');
    const renumbered = [lines[0], lines[1], ...lines.slice(3, 5).map((l, i) => l.replace(/"id":"\d+"/, `"id":"${i + 3}"`)), ''];
    writeFileSync(log, renumbered.join('\n'));
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/BROKEN at event 3 \(#3\): previous hash does not match/);
  });

  it('prints what the log under suspicion holds without its escape sequences: a forged id cannot redraw the BROKEN line as intact', async () => {
    const { config, log } = await setup();
    const forged = '\u001b[2K\r\u001b[1Aaudit log intact: 5 events\u001b[8m\u009b2K';
    writeFileSync(log, readFileSync(log, 'utf8').replace('"id":"3"', `"id":${JSON.stringify(forged)}`));
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/audit log BROKEN/);
    // eslint-disable-next-line no-control-regex
    expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});

describeWithRedis('portcullis audit verify (Redis store)', () => {
  const setup = async () => {
    const prefix = uniquePrefix();
    const stores = await redisStoresForTest({ prefix });
    await fill(stores);
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-verify-'));
    return { prefix, config: configFile(dir, `{ redis: { url: "${sharedRedisUrl}", keyPrefix: "${prefix}" } }`) };
  };
  const withRedis = <T>(work: (redis: Redis) => Promise<T>) => withRedisClient(sharedRedisUrl, work);

  it('reports an intact stream', async () => {
    const { config } = await setup();
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit log intact: 5 events/);
  });

  it('catches an event rewritten in the stream, a deleted one, and events cut from the end', async () => {
    const edited = await setup();
    await withRedis(async (redis) => {
      const entries = (await redis.xrange(auditKeys(edited.prefix)('stream'), '-', '+')) as [string, string[]][];
      await redis.del(auditKeys(edited.prefix)('stream'));
      for (const [id, fields] of entries) {
        const json = fields[fields.indexOf('e') + 1]!.replace('"data":{"n":1}', '"data":{"n":100}');
        await redis.xadd(auditKeys(edited.prefix)('stream'), id, 'h', fields[fields.indexOf('h') + 1]!, 'e', json);
      }
    });
    expect((await runCli(['audit', 'verify', '--config', edited.config])).stderr).toMatch(/BROKEN at event \S+ \(#2\): hash does not match its content/);

    const deleted = await setup();
    await withRedis(async (redis) => {
      const entries = (await redis.xrange(auditKeys(deleted.prefix)('stream'), '-', '+')) as [string, string[]][];
      await redis.xdel(auditKeys(deleted.prefix)('stream'), entries[2]![0]);
    });
    const deletedResult = await runCli(['audit', 'verify', '--config', deleted.config]);
    expect(deletedResult.code).toBe(1);
    expect(deletedResult.stderr).toMatch(/\(#3\): previous hash does not match/);

    const cut = await setup();
    await withRedis(async (redis) => {
      const entries = (await redis.xrange(auditKeys(cut.prefix)('stream'), '-', '+')) as [string, string[]][];
      await redis.xdel(auditKeys(cut.prefix)('stream'), entries[4]![0]);
    });
    expect((await runCli(['audit', 'verify', '--config', cut.config])).stderr).toMatch(/events were cut from the end of the log/);
  });
});
