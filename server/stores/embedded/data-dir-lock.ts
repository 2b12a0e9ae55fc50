import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
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

/** Rounds of "create, or find the lock stale and move it away" before giving up. */
const ATTEMPTS = 3;

/**
 * One embedded instance per dataDir: a second writer on the same audit file would fork
 * its hash chain. The lock file names its owner (host, pid, random token). A lock from a
 * dead process on this host is taken over; one from another host (a shared volume)
 * cannot be checked from here, so it is refused until an operator removes it.
 *
 * Two processes starting at once must not both win. The lock appears whole (written to a
 * file of its own, then linked into place, which fails when one exists), so it is never
 * read half-written; and a stale lock is moved aside before it is removed, then looked at:
 * when what moved is not the lock judged stale (another process took it over meanwhile
 * and holds it now), it is put back.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'portcullis.lock');
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(16).toString('hex') };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createWhole(path, JSON.stringify(me))) {
      heldByThisProcess.add(me.token);
      return () => {
        heldByThisProcess.delete(me.token);
        if (readOwner(readLock(path))?.token === me.token) unlinkSync(path);
      };
    }
    const text = readLock(path);
    if (text === null) continue;
    const owner = readOwner(text);
    if (owner && isLive(owner)) {
      throw new PortcullisError(
        'DATA_DIR_LOCKED',
        `${dataDir} is in use by process ${owner.pid} on ${owner.host}; several instances need the Redis store (remove ${path} only if that process is gone)`,
      );
    }
    removeIfStill(path, text, me.token);
  }
  throw new PortcullisError('DATA_DIR_LOCKED', `could not lock ${dataDir}: another process is starting on it`);
}

/** Creates `path` holding `text`, or returns false when it exists: the file is written first, so no reader sees it partial. */
function createWhole(path: string, text: string): boolean {
  const draft = `${path}.${randomBytes(8).toString('hex')}`;
  const fd = openSync(draft, 'wx', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    unlinkSync(draft);
  }
}

/** Removes the lock at `path` if it still holds `text`; a lock that replaced it meanwhile is put back. */
function removeIfStill(path: string, text: string, token: string): void {
  const aside = `${path}.stale-${token}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (readLock(aside) !== text) {
    try {
      linkSync(aside, path);
    } catch (error) {
      // A third process locked meanwhile: the one moved aside has lost its file, and is told nothing.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  unlinkSync(aside);
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function readOwner(text: string | null): LockOwner | null {
  try {
    const owner = JSON.parse(text ?? '') as Partial<LockOwner>;
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
