import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { PortcullisError } from '../../errors.js';

/**
 * Makes the data dir, or narrows one made before (by hand, a copy) to 0700, as the files in
 * it are, and refuses one another user could change the files of: whoever could would put
 * an older state.jsonl back in place, reviving revoked tokens and sessions at the next
 * start, or remove audit.jsonl, which would be made anew. So it must be this user's or
 * root's, and writable by no one else, or only as /tmp is (sticky and root's: nobody else
 * renames this user's files). The directories above it are the operator's to keep (they
 * are often group-writable where the umask is 002, and a checkout's would then refuse).
 */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dataDir, 0o700);
  } catch (error) {
    // Another user's directory (a volume's root): judged below as it is.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
  const me = process.getuid?.();
  if (me === undefined) return;
  const { mode, uid } = statSync(dataDir);
  const unsafe = uid !== me && uid !== 0 ? `is owned by another user (uid ${uid})` : mode & 0o022 && !(mode & 0o1000 && uid === 0) ? `can be written by other users (mode ${(mode & 0o7777).toString(8)}, owner uid ${uid})` : null;
  if (unsafe) throw new PortcullisError('DATA_DIR_UNSAFE', `${dataDir} ${unsafe}, who could change the broker's state: set store.dataDir to a directory of this user's own, such as a subdirectory it creates, on a file system that keeps Unix permissions`);
}
