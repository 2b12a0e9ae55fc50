import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLogCorruptError, PortcullisError } from '../../server/errors.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import type { AuditLogOptions } from '../../server/audit/types.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { CONTRACT_AUDIT_OPTIONS, CONTRACT_ONE_TIME_CAPACITY, CONTRACT_TOOL_PIN_CAPACITY, runStoreContract } from './store-contract.js';
import { CONTRACT_USER_DIRECTORY_CAPACITY } from './user-directory-contract.js';

runStoreContract('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
  const clock = new ManualClock();
  const open = (audit: AuditLogOptions = CONTRACT_AUDIT_OPTIONS) => createEmbeddedStores({ dataDir, clock, audit, oneTimeValueCapacity: CONTRACT_ONE_TIME_CAPACITY, toolPinCapacity: CONTRACT_TOOL_PIN_CAPACITY, userDirectoryCapacity: CONTRACT_USER_DIRECTORY_CAPACITY });
  return {
    stores: await open(),
    clock,
    reopen: open,
    foreignCursor: '1732000000000-0',
    unissuedCursor: '999',
  };
});

describe('embedded audit file', () => {
  const open: Stores[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  const start = async (dataDir: string, audit?: AuditLogOptions) => {
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), audit });
    open.push(stores);
    return stores;
  };

  it('writes one JSON line per event, readable without Portcullis', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    const stores = await start(dataDir);
    const e = await stores.audit.append({ type: 'auth.logout', outcome: 'SUCCESS', actor: 'a@example.com' });
    const lines = readFileSync(join(dataDir, AUDIT_FILE_NAME), 'utf8').split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual(e);
  });

  it('cuts off a torn last line (an append that never completed) and chains on from the last whole event', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    let stores = await start(dataDir);
    const whole = await stores.audit.append({ type: 'auth.logout', outcome: 'SUCCESS', actor: null });
    await stores.close();
    open.length = 0;
    appendFileSync(join(dataDir, AUDIT_FILE_NAME), '{"id":"2","type":"auth.lo');
    stores = await start(dataDir);
    expect(await stores.audit.read({ limit: 10 })).toEqual([whole]);
    const next = await stores.audit.append({ type: 'auth.logout', outcome: 'SUCCESS', actor: null });
    expect(next).toMatchObject({ id: '2', prevHash: whole.hash });
  });

  it('refuses to start on a log with an unreadable line in the middle', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    writeFileSync(join(dataDir, AUDIT_FILE_NAME), 'not json\n{"id":"2"}\n');
    await expect(createEmbeddedStores({ dataDir, clock: new ManualClock() })).rejects.toBeInstanceOf(AuditLogCorruptError);
  });

  it('refuses to start on a log whose chain is broken: an edited event, or a removed one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    const stores = await start(dataDir);
    for (let n = 0; n < 3; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
    await stores.close();
    open.length = 0;
    const file = join(dataDir, AUDIT_FILE_NAME);
    const lines = readFileSync(file, 'utf8').split('\n');

    writeFileSync(file, lines.join('\n').replace('"actor":"a@example.com","server":null,"tool":null,"sessionId":null,"data":{"n":1}', '"actor":"b@example.com","server":null,"tool":null,"sessionId":null,"data":{"n":1}'));
    await expect(createEmbeddedStores({ dataDir, clock: new ManualClock() })).rejects.toThrow(/event 2: hash mismatch/);

    const withoutSecond = [lines[0], lines[2]!.replace('"id":"3"', '"id":"2"'), ''].join('\n');
    writeFileSync(file, withoutSecond);
    await expect(createEmbeddedStores({ dataDir, clock: new ManualClock() })).rejects.toThrow(/event 2: prev hash mismatch/);

    writeFileSync(file, `${lines[0]!.replace(/,"hash":"[0-9a-f]+"/, '')}\n`);
    await expect(createEmbeddedStores({ dataDir, clock: new ManualClock() })).rejects.toThrow(/line 1 is not an audit event/);
  });

  it('closes a live reader that retention overtook, saying so, instead of skipping events', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    const stores = await start(dataDir, { retention: true });
    for (let n = 0; n < 3; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: null, data: { n } });
    const iterator = stores.audit.tail('start', new AbortController().signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.data.n).toBe(0);
    await stores.audit.trim({ keep: 1 });
    await expect(iterator.next()).rejects.toThrow(/fell behind the retained audit log/);
  });

  it('refuses a second instance on the same dataDir, whose appends would fork the chain', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    await start(dataDir);
    const second = createEmbeddedStores({ dataDir, clock: new ManualClock() });
    await expect(second).rejects.toBeInstanceOf(PortcullisError);
    await expect(second).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED' });
  });
});
