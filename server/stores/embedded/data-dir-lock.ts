import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PortcullisError } from '../../errors.js';

interface LockOwner {
  host: string;
  pid: number;
  token: string;
}

// Lock tokens this process holds. A lock naming our host and pid but not one of these
// tokens was left by an earlier incarnation (a container restarted as pid 1) and is stale.
const heldByThisProcess = new Set<string>();

/**
 * One embedded instance per dataDir: a second writer on the same audit file would fork
 * its hash chain. The lock file names its owner (host, pid, random token). A lock from a
 * dead process on this host is taken over; one from another host (a shared volume)
 * cannot be checked from here, so it is refused until an operator removes it.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'portcullis.lock');
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(16).toString('hex') };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(path);
      if (owner && isLive(owner)) {
        throw new PortcullisError(
          'DATA_DIR_LOCKED',
          `${dataDir} is in use by process ${owner.pid} on ${owner.host}; several instances need the Redis store (remove ${path} only if that process is gone)`,
        );
      }
      unlinkSync(path);
      continue;
    }
    // Read back: another process may have replaced a lock it judged stale at the same moment.
    if (readOwner(path)?.token !== me.token) continue;
    heldByThisProcess.add(me.token);
    return () => {
      heldByThisProcess.delete(me.token);
      if (readOwner(path)?.token === me.token) unlinkSync(path);
    };
  }
  throw new PortcullisError('DATA_DIR_LOCKED', `could not lock ${dataDir}: another process is starting on it`);
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof owner.host === 'string' && Number.isInteger(owner.pid) && typeof owner.token === 'string' ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

function isLive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return heldByThisProcess.has(owner.token);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
