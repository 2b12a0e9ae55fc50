import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCheckpoints } from '../../server/audit/checkpoint-schedule.js';
import { AuditKeyRing } from '../../server/audit/seal.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { verifyChain } from '../../server/audit/verify.js';
import { createLogger } from '../../server/log.js';
import { AUDIT_FILE_NAME, readAuditFile } from '../../server/stores/embedded/file-audit-log.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { auditLogOptions } from '../../server/stores/index.js';
import type { Stores } from '../../server/stores/types.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { startTestServer, testConfig } from '../support/test-server.js';

const key = auditKeyPair();
const config = () => testConfig({ audit: { checkpoints: { privateKey: key.privateKey, intervalSeconds: 300 } } });
const login = { type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com' } as const;
const kinds = (events: AuditEvent[]) => events.map((e) => (e.type === 'audit.checkpoint' ? 'checkpoint' : e.type));

describe('checkpoint schedule', () => {
  const open: Stores[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('seals every interval what was appended since the last checkpoint, or that it is idle, and once more when stopped, saying so', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-schedule-')), clock, audit: auditLogOptions(config().audit) });
    open.push(stores);
    const stop = startCheckpoints(stores.audit, 300, createLogger({ level: 'silent' }));
    const log = () => stores.audit.read({ limit: 100 });
    /** The next event the log gets, however it is written. */
    const nextEvent = async () => {
      const abort = new AbortController();
      const iterator = stores.audit.tail('end', abort.signal)[Symbol.asyncIterator]();
      const next = iterator.next();
      return next.finally(() => abort.abort()).then((r) => r.value as AuditEvent);
    };

    await stores.audit.append(login);
    const ticked = nextEvent();
    vi.advanceTimersByTime(300_000);
    expect((await ticked).type).toBe('audit.checkpoint');

    // Idle: the next tick seals all the same (what shows a log cut back to an old checkpoint), then the event follows it.
    clock.advance(300_000);
    const idle = nextEvent();
    vi.advanceTimersByTime(300_000);
    expect(await idle).toMatchObject({ type: 'audit.checkpoint', data: { every: 300 } });
    expect((await idle).data.final).toBeUndefined();
    await stores.audit.append(login);
    expect(kinds(await log())).toEqual(['checkpoint', 'auth.login', 'checkpoint', 'checkpoint', 'auth.login']);

    await stop();
    const events = await log();
    expect(events.at(-1)).toMatchObject({ type: 'audit.checkpoint', data: { every: 300, final: true } });
    expect(await verifyChain([events], { keys: new AuditKeyRing([key.publicKey]), maxGapMs: 900_000, now: clock.now() })).toMatchObject({ broken: null, checkpoints: { count: 4, eventsAfter: 0 } });
  });
});

describe('a broker shutting down seals what it audited', () => {
  it('embedded store: the last line of the log is a checkpoint over everything before it', async () => {
    const cfg = config();
    const server = await startTestServer({ config: cfg });
    const last = await server.stores.audit.append(login);
    await server.close();
    const { events } = readAuditFile(join(cfg.store.dataDir, AUDIT_FILE_NAME), { retention: false });
    expect(events.at(-1)).toMatchObject({ type: 'audit.checkpoint', prevHash: last.hash });
  });

  describeWithRedis('Redis store', () => {
    it('the newest stream entry is a checkpoint over everything before it', async () => {
      const cfg = config();
      const prefix = uniquePrefix();
      const server = await startTestServer({ config: cfg, stores: await redisStoresForTest({ prefix, audit: auditLogOptions(cfg.audit) }) });
      const last = await server.stores.audit.append(login);
      await server.close();
      const reader = await redisStoresForTest({ prefix });
      try {
        expect((await reader.audit.read({ after: last.id, limit: 10 })).map((e) => [e.type, e.prevHash])).toEqual([['audit.checkpoint', last.hash]]);
      } finally {
        await reader.close();
      }
    });
  });
});
