import { execFileSync } from 'node:child_process';
import type * as fs from 'node:fs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { HEADER_LINE, STATE_FILE_NAME } from '../../server/stores/embedded/state-file.js';
import { StateJournal } from '../../server/stores/embedded/state-journal.js';
import { ManualClock } from '../support/manual-clock.js';

const HOUR = 3_600_000;
const directorySync = vi.hoisted(() => ({ fails: false }));

// Fault injection, as nothing real makes it fail here: the tests run as root, who may open
// any directory, and fsync(2) of a directory on a local disk does not fail on demand. Only
// fsyncSync is replaced, and only the directory sync of a file replacement calls it.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const fsyncSync = (fd: number) => {
    if (directorySync.fails) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    real.fsyncSync(fd);
  };
  return { ...real, fsyncSync };
});

/**
 * Runs `work` with this process's soft file-size limit (RLIMIT_FSIZE) at `bytes`: a real
 * write past it fails with EFBIG (Node ignores SIGXFSZ). Vitest runs each test file in a
 * process of its own, so nothing else writes under the limit.
 */
async function withFileSizeLimit<T>(bytes: number, work: () => Promise<T>): Promise<T> {
  const softLimit = (value?: string) =>
    execFileSync('prlimit', ['--pid', String(process.pid), value === undefined ? '--fsize' : `--fsize=${value}:`, '--raw', '--noheadings', '--output=SOFT'], { encoding: 'utf8' }).trim();
  const before = softLimit();
  softLimit(String(bytes));
  try {
    return await work();
  } finally {
    softLimit(before);
  }
}

it('cuts a failed commit back to the file a compaction left, also when its directory sync failed after the rename', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
  const clock = new ManualClock();
  // Slack 1: the set and take of `old` make the one compaction due, and the commits after it do not make another.
  const open = () => StateJournal.open(dataDir, clock, ['sessions'], { compactionSlack: 1 });
  const journal = await open();
  const sessions = journal.collection<string>('sessions');
  await sessions.set('old', 'x'.repeat(1000), clock.now() + HOUR);
  directorySync.fails = true;
  await sessions.take('old');
  // The commit after it waits for the compaction, which swapped in a file of the header alone, then failed.
  // Its line stops at the limit (a real EFBIG) and is cut back: to that file's length, not the replaced one's.
  const failed = withFileSizeLimit(16_384, () => sessions.set('huge', 'x'.repeat(32_768), clock.now() + HOUR));
  await expect(failed).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  expect(readFileSync(join(dataDir, STATE_FILE_NAME), 'utf8')).toBe(HEADER_LINE);
  directorySync.fails = false;
  await sessions.set('after', 'kept', clock.now() + HOUR);
  await journal.close();

  const again = await open();
  try {
    expect([...again.collection<string>('sessions').live()].map(({ key, value }) => [key, value])).toEqual([['after', 'kept']]);
  } finally {
    await again.close();
  }
});
