import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { ManualClock } from '../support/manual-clock.js';

const mode = (path: string) => statSync(path).mode & 0o777;

it('narrows a data dir and an audit log made looser before it started to owner only: 0700 and 0600', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'portcullis-embedded-')), 'data');
  const audit = join(dataDir, AUDIT_FILE_NAME);
  mkdirSync(dataDir);
  writeFileSync(audit, '');
  // Set outright: the umask would have narrowed the modes mkdir and writeFile were given.
  chmodSync(dataDir, 0o755);
  chmodSync(audit, 0o644);
  const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock() });
  try {
    expect([mode(dataDir), mode(audit)]).toEqual([0o700, 0o600]);
  } finally {
    await stores.close();
  }
});

/**
 * Opens the embedded stores in `dataDir` as another user (nobody), who may not narrow a
 * directory root owns: the code of the error it refuses with, or 'opened'.
 */
async function openAsNobody(dataDir: string): Promise<string> {
  const script = `
    const { createEmbeddedStores } = await import(${JSON.stringify(pathToFileURL(resolve('server/stores/embedded/index.ts')).href)});
    try {
      const stores = await createEmbeddedStores({ dataDir: ${JSON.stringify(dataDir)}, clock: { now: () => Date.now() } });
      await stores.close();
      console.log('opened');
    } catch (error) {
      console.log(error.code ?? error.message, error.message);
    }`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { uid: 65534, gid: 65534, env: { PATH: process.env.PATH, HOME: '/tmp' } });
  return stdout.trim();
}

// Taking another user's identity (and giving a directory to one) needs root, as the CI and these machines run tests.
it.runIf(process.getuid?.() === 0)('refuses a data dir another user could change the files of (they would put an old journal back), and takes one as /tmp is (sticky, root\'s)', async () => {
  const base = mkdtempSync(join(tmpdir(), 'portcullis-shared-'));
  chmodSync(base, 0o755);
  const shared = join(base, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  expect(await openAsNobody(shared)).toMatch(/^DATA_DIR_UNSAFE .*shared can be written by other users \(mode 777, owner uid 0\), who could change the broker's state: set store\.dataDir to a directory of this user's own/);
  expect(readdirSync(shared)).toEqual([]);

  // Sticky, but another user's (not root's): its owner may still rename what is in it.
  chownSync(shared, 65533, 65533);
  chmodSync(shared, 0o1777);
  expect(await openAsNobody(shared)).toMatch(/^DATA_DIR_UNSAFE .*shared is owned by another user \(uid 65533\)/);
  expect(readdirSync(shared)).toEqual([]);

  chownSync(shared, 0, 0);
  expect(await openAsNobody(shared)).toBe('opened');
  expect(statSync(join(shared, AUDIT_FILE_NAME)).uid).toBe(65534);
  expect(mode(join(shared, AUDIT_FILE_NAME))).toBe(0o600);

  // Root may narrow anyone's directory, but its owner could widen it again.
  const theirs = join(base, 'theirs');
  mkdirSync(theirs);
  chownSync(theirs, 65534, 65534);
  await expect(createEmbeddedStores({ dataDir: theirs, clock: new ManualClock() })).rejects.toThrow(/theirs is owned by another user \(uid 65534\)/);
  expect(readdirSync(theirs)).toEqual([]);
});
