import { spawnSync } from 'node:child_process';
import type * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lockDataDir } from '../../server/stores/embedded/data-dir-lock.js';

/** Runs once, right after the next read of a lock file, as another process would act in that moment. */
const onLockRead: { next: (() => void) | null } = { next: null };

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const readFileSync = ((path: fs.PathOrFileDescriptor, options?: unknown) => {
    const text = real.readFileSync(path, options as BufferEncoding);
    const meanwhile = String(path).endsWith('portcullis.lock') ? onLockRead.next : null;
    onLockRead.next = null;
    meanwhile?.();
    return text;
  }) as typeof real.readFileSync;
  return { ...real, readFileSync };
});

/** A pid no process has now: one that just exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

const lockIn = (dataDir: string) => join(dataDir, 'portcullis.lock');
const ownerOf = (dataDir: string) => JSON.parse(readFileSync(lockIn(dataDir), 'utf8')) as { pid: number; token: string };
const staleLock = () => JSON.stringify({ host: hostname(), pid: deadPid(), token: 'crashed' });

describe("the embedded store's data-dir lock", () => {
  afterEach(() => (onLockRead.next = null));

  it('takes over a lock left by a process that is gone, and leaves no other file behind', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), staleLock());
    const release = lockDataDir(dataDir);
    expect(ownerOf(dataDir).pid).toBe(process.pid);
    expect(readdirSync(dataDir)).toEqual(['portcullis.lock']);
    release();
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('takes over a lock that is not a lock (a crash while one was written by an older version)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), '');
    lockDataDir(dataDir)();
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('does not remove the lock of a process that took a stale lock over while this one was judging it stale', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    writeFileSync(lockIn(dataDir), staleLock());
    // Another broker starting at the same moment (the test runner's parent process: alive) reads the same stale lock,
    // removes it and locks, right after this one read it.
    const other = JSON.stringify({ host: hostname(), pid: process.ppid, token: 'other' });
    onLockRead.next = () => writeFileSync(lockIn(dataDir), other);

    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED', message: expect.stringContaining(`in use by process ${process.ppid}`) }));
    expect(readFileSync(lockIn(dataDir), 'utf8')).toBe(other);
    expect(readdirSync(dataDir)).toEqual(['portcullis.lock']);
  });

  it('refuses a lock held by a live process, and a second lock in this one', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-lock-'));
    const release = lockDataDir(dataDir);
    expect(() => lockDataDir(dataDir)).toThrow(expect.objectContaining({ code: 'DATA_DIR_LOCKED' }));
    release();
    lockDataDir(dataDir)();
  });
});
