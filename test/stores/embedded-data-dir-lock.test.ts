import { spawnSync } from 'node:child_process';
import type * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lockDataDir } from '../../server/stores/embedded/data-dir-lock.js';

/** What other processes do around this one's reads of the lock file, read by read (each taken once), and faults to inject. */
const around: { reads: { before?: () => void; after?: () => void }[]; linkFails?: string; draftWriteFails?: boolean } = { reads: [] };

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const readFileSync = ((path: fs.PathOrFileDescriptor, options?: unknown) => {
    const hooks = String(path).endsWith('portcullis.lock') ? around.reads.shift() : undefined;
    hooks?.before?.();
    const text = real.readFileSync(path, options as BufferEncoding);
    hooks?.after?.();
    return text;
  }) as typeof real.readFileSync;
  const linkSync = ((existing: fs.PathLike, path: fs.PathLike) => {
    if (around.linkFails) throw Object.assign(new Error(`${around.linkFails}: operation not permitted, link`), { code: around.linkFails });
    real.linkSync(existing, path);
  }) as typeof real.linkSync;
  const writeFileSync = ((file: fs.PathOrFileDescriptor, data: string, options?: fs.WriteFileOptions) => {
    real.writeFileSync(file, data, options);
    if (around.draftWriteFails && !String(file).endsWith('portcullis.lock')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }) as typeof real.writeFileSync;
  return { ...real, readFileSync, linkSync, writeFileSync };
});

/** A pid no process has now: one that just exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

const lockIn = (dataDir: string) => join(dataDir, 'portcullis.lock');
const ownerOf = (dataDir: string) => JSON.parse(readFileSync(lockIn(dataDir), 'utf8')) as { pid: number; token: string };
const staleLock = () => JSON.stringify({ host: hostname(), pid: deadPid(), token: 'crashed' });
/** A lock of another broker that is alive (the test runner's parent process). */
const liveLock = (token: string) => JSON.stringify({ host: hostname(), pid: process.ppid, token });

describe("the embedded store's data-dir lock", () => {
  afterEach(() => {
    around.reads = [];
    delete around.linkFails;
    delete around.draftWriteFails;
  });

  it('takes over a lock left by a process that is gone, and leaves no other file behind', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), staleLock());
    const release = lockDataDir(dataDir);
    expect(ownerOf(dataDir).pid).toBe(process.pid);
    expect(readdirSync(dataDir)).toEqual(['portcullis.lock']);
    release();
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('takes over a lock that is not a lock when it is old (a crash while an older version wrote it), and waits for one written lately', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), '');
    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED', message: expect.stringContaining('another process is starting on it') }));
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lockIn(dataDir), aMinuteAgo, aMinuteAgo);
    lockDataDir(dataDir)();
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it.each([
    ['', undefined],
    [' (a filesystem without hard links)', 'EPERM'],
  ])('does not remove the lock of a process that took a stale lock over while this one was judging it stale%s', (_, linkFails) => {
    if (linkFails) around.linkFails = linkFails;
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), staleLock());
    // Another broker starting at the same moment reads the same stale lock, removes it and locks, right after this one read it.
    const other = liveLock('other');
    around.reads = [{ after: () => writeFileSync(lockIn(dataDir), other) }];

    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED', message: expect.stringContaining(`in use by process ${process.ppid}`) }));
    expect(readFileSync(lockIn(dataDir), 'utf8')).toBe(other);
    expect(readdirSync(dataDir)).toEqual(['portcullis.lock']);
  });

  it('gives a lock it took over up when it is not its own a moment later (a third process moved it aside and locked)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), staleLock());
    const third = liveLock('third');
    around.reads = [{}, { before: () => writeFileSync(lockIn(dataDir), third) }];

    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED', message: expect.stringContaining(`in use by process ${process.ppid}`) }));
    expect(readFileSync(lockIn(dataDir), 'utf8')).toBe(third);
  });

  it('locks on a filesystem without hard links, and leaves no draft behind when a write fails', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    around.linkFails = 'EPERM';
    const release = lockDataDir(dataDir);
    expect(ownerOf(dataDir).pid).toBe(process.pid);
    expect(readdirSync(dataDir)).toEqual(['portcullis.lock']);
    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED' }));
    release();

    delete around.linkFails;
    around.draftWriteFails = true;
    expect(() => lockDataDir(dataDir)).toThrow(/ENOSPC/);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses a lock held by a live process, and a second lock in this one', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    const release = lockDataDir(dataDir);
    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED' }));
    release();
    lockDataDir(dataDir)();
  });
});
