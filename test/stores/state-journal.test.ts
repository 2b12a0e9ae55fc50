import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../server/errors.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { STATE_FILE_NAME } from '../../server/stores/embedded/state-file.js';
import { StateJournal } from '../../server/stores/embedded/state-journal.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { alice, grantRecord, requestRecord } from './store-contract.js';

const HOUR = 3_600_000;
const newDataDir = () => join(mkdtempSync(join(tmpdir(), 'portcullis-state-')), 'data');
const lines = (dataDir: string) => readFileSync(join(dataDir, STATE_FILE_NAME), 'utf8').split('\n').slice(0, -1);
const session = (id: string, clock: ManualClock, ttlMs = HOUR) => ({ id, secretHash: `hash-${id}`, user: alice, createdAt: clock.now(), expiresAt: clock.now() + ttlMs });

describe('embedded state journal (dataDir/state.jsonl)', () => {
  const clock = new ManualClock();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  const start = async (dataDir: string): Promise<Stores> => {
    const stores = await createEmbeddedStores({ dataDir, clock });
    open.push(stores);
    return stores;
  };
  const stop = async (stores: Stores) => {
    open.splice(open.indexOf(stores), 1);
    await stores.close();
  };

  it('is readable by its owner only: 0600 in a 0700 dataDir, even when it was copied in looser', async () => {
    const dataDir = newDataDir();
    await stop(await start(dataDir));
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const file = join(dataDir, STATE_FILE_NAME);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    chmodSync(file, 0o644);
    await start(dataDir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes a request and the grant it issues as one line: a crash keeps both or neither', async () => {
    const dataDir = newDataDir();
    const stores = await start(dataDir);
    const request = requestRecord('r1', clock, { status: 'APPROVED', grantId: 'g1' });
    await stores.access.createRequest(request, grantRecord('g1', request, clock));
    const last = JSON.parse(lines(dataDir).at(-1)!) as { c: string; k: string }[];
    expect(last.map((op) => [op.c, op.k])).toEqual([
      ['access-requests', 'r1'],
      ['grants', 'g1'],
    ]);
  });

  it('cuts off a torn last line (a commit that never completed) and goes on from the whole ones', async () => {
    const dataDir = newDataDir();
    let stores = await start(dataDir);
    await stores.sessions.create(session('s1', clock));
    await stop(stores);
    appendFileSync(join(dataDir, STATE_FILE_NAME), '[{"c":"sessions","k":"s2","v":{"id":"s2"');
    stores = await start(dataDir);
    expect(await stores.sessions.get('s1')).not.toBeNull();
    expect(await stores.sessions.get('s2')).toBeNull();
    await stores.sessions.create(session('s3', clock));
    await stop(stores);
    stores = await start(dataDir);
    expect(await stores.sessions.get('s1')).not.toBeNull();
    expect(await stores.sessions.get('s3')).not.toBeNull();
  });

  it('loses nothing it acknowledged when its process is killed mid-write', async () => {
    const dataDir = newDataDir();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/state-writer.ts', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const done = buffered.split('\n');
        buffered = done.pop()!;
        acknowledged.push(...done);
        if (acknowledged.length >= 200) resolve();
      });
      child.once('exit', (code) => reject(new Error(`writer exited with ${code} after ${acknowledged.length} writes`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    const stores = await start(dataDir);
    const missing = [];
    for (const id of acknowledged) if ((await stores.sessions.get(id)) === null) missing.push(id);
    expect(missing).toEqual([]);
  });

  describe('refuses to start on a file it cannot read, naming the line, and starts once it is put right', () => {
    const header = '{"portcullis":"state","version":1}';
    const whole = JSON.stringify([{ c: 'sessions', k: 's1', v: session('s1', clock), x: 99999999999999 }]);
    const cases: [what: string, text: string, message: RegExp][] = [
      ['an unreadable line before the last', `${header}\nnot json\n${whole}\n`, /state\.jsonl line 2 is not a list of state records/],
      ['a record of a collection it does not know', `${header}\n[{"c":"wallets","k":"w","v":1,"x":1}]\n`, /line 2 is not a list of state records/],
      ['a record without its expiry', `${header}\n[{"c":"sessions","k":"s1","v":{}}]\n`, /line 2 is not a list of state records/],
      ['a file that is not a state file', `${whole}\n`, /line 1 is not a Portcullis state header/],
    ];
    for (const [what, text, message] of cases) {
      it(`refuses ${what}`, async () => {
        const dataDir = newDataDir();
        await stop(await start(dataDir));
        writeFileSync(join(dataDir, STATE_FILE_NAME), text);
        const refused = createEmbeddedStores({ dataDir, clock });
        await expect(refused).rejects.toBeInstanceOf(StoreCorruptError);
        await expect(refused).rejects.toMatchObject({ code: 'STORE_CORRUPT', message });
        writeFileSync(join(dataDir, STATE_FILE_NAME), `${header}\n${whole}\n`);
        expect(await (await start(dataDir)).sessions.get('s1')).toMatchObject({ id: 's1', user: alice });
      });
    }
  });

  describe('compaction', () => {
    const names = ['sessions'];
    const openJournal = async (dataDir: string) => {
      const journal = await StateJournal.open(dataDir, clock, names, { compactionSlack: 0 });
      open.push(journal);
      return { journal, sessions: journal.collection<{ n: number }>('sessions') };
    };

    it('rewrites the file to the live records once it holds over twice as many, dropping expired ones, and loads the same', async () => {
      const dataDir = newDataDir();
      await stop(await start(dataDir));
      const { journal, sessions } = await openJournal(dataDir);
      await sessions.set('expiring', { n: -1 }, clock.now() + 1000);
      for (let n = 0; n < 6; n++) await sessions.set(`s${n}`, { n }, clock.now() + HOUR);
      clock.advance(1000);
      for (let n = 0; n < 4; n++) await sessions.take(`s${n}`);
      await journal.close();
      open.splice(open.indexOf(journal), 1);
      const keys = lines(dataDir)
        .slice(1)
        .flatMap((line) => (JSON.parse(line) as { k: string }[]).map((op) => op.k));
      // 11 commits; the rewrite kept s3 to s5 (s3 taken after it), and not the expired one.
      expect(keys).toEqual(['s3', 's4', 's5', 's3']);
      const again = await openJournal(dataDir);
      expect([...again.sessions.live()].map(({ key, value }) => [key, value])).toEqual([
        ['s4', { n: 4 }],
        ['s5', { n: 5 }],
      ]);
    });

    it('ignores a rewrite that a crash interrupted before its rename', async () => {
      const dataDir = newDataDir();
      const stores = await start(dataDir);
      await stores.sessions.create(session('s1', clock));
      await stop(stores);
      writeFileSync(join(dataDir, `${STATE_FILE_NAME}.tmp`), '{"portcullis":"state","version":1}\n[{"c":"sessi');
      expect(await (await start(dataDir)).sessions.get('s1')).toMatchObject({ id: 's1' });
    });
  });
});
