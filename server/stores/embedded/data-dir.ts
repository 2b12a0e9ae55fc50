import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { PortcullisError } from '../../errors.js';

/**
 * Makes the data dir, or narrows one made before (by hand, a copy) to 0700, as the files in
 * it are. One this user may not narrow (another user's, a volume's root) is used only when no
 * one else can write in it, or only as in /tmp (sticky: nobody else renames or removes this
 * user's files): whoever could would put an older state.jsonl back in place, reviving revoked
 * tokens and sessions at the next start, or remove audit.jsonl, which would be made anew.
 */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dataDir, 0o700);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
  const { mode, uid } = statSync(dataDir);
  if (mode & 0o022 && !(mode & 0o1000)) {
    throw new PortcullisError(
      'DATA_DIR_UNSAFE',
      `${dataDir} can be written by other users (mode ${(mode & 0o7777).toString(8)}, owner uid ${uid}) and this user may not narrow it: set store.dataDir to a directory of its own, such as a subdirectory it creates`,
    );
  }
}
