import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PortcullisError } from '../../errors.js';

// Locks this process holds. A lock file naming our own pid that is not in here was left
// by an earlier incarnation (a container restarted with the same pid) and is stale.
const heldByThisProcess = new Set<string>();

/**
 * One embedded instance per dataDir: a second writer on the same audit file would fork
 * its hash chain. The lock is a file holding the owner's pid; one whose owner is gone
 * is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'portcullis.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldByThisProcess.add(path);
      return () => {
        heldByThisProcess.delete(path);
        try {
          unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (isLive(owner, path)) {
        throw new PortcullisError('DATA_DIR_LOCKED', `${dataDir} is in use by process ${owner}; several instances need the Redis store`);
      }
      unlinkSync(path);
    }
  }
  throw new PortcullisError('DATA_DIR_LOCKED', `could not lock ${dataDir}`);
}

function isLive(pid: number, path: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return heldByThisProcess.has(path);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
