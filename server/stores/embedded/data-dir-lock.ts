import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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
/** How long a lock that is not one yet (being written where hard links are missing) is taken for a process starting. */
const STARTING_MS = 10_000;
/** How long a process that took a stale lock over waits before it looks whether the lock is still its own. */
const SETTLE_MS = 50;
/** What link(2) fails with on filesystems without hard links (vfat, exFAT, some SMB and FUSE mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * One embedded instance per dataDir: a second writer on the same audit file would fork
 * its hash chain. The lock file names its owner (host, pid, random token). A lock from a
 * dead process on this host is taken over; one from another host (a shared volume)
 * cannot be checked from here, so it is refused until an operator removes it.
 *
 * Two processes starting at once must not both win. The lock appears whole (written to a
 * file of its own, then linked into place, which fails when one exists), so it is not
 * read half-written; a stale lock is moved aside before it is removed, then looked at:
 * when what moved is not the lock judged stale (another process took it over meanwhile
 * and holds it now), it is put back. A process that took a lock over looks again a moment
 * later whether it is still its own: a third process starting in that moment can have
 * moved it aside and locked.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'portcullis.lock');
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(16).toString('hex') };
  const held = () => {
    heldByThisProcess.add(me.token);
    return () => {
      heldByThisProcess.delete(me.token);
      if (readOwner(readLock(path))?.token === me.token) unlinkSync(path);
    };
  };
  let tookOver = false;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createWhole(path, JSON.stringify(me)) && (!tookOver || stillOwn(path, me.token))) return held();
    const text = readLock(path);
    if (text === null) continue;
    const owner = readOwner(text);
    // Its own, put back by a process that had moved it aside while this one looked (stillOwn).
    if (owner?.token === me.token) return held();
    if (owner && isLive(owner)) {
      throw new PortcullisError(
        'DATA_DIR_LOCKED',
        `${dataDir} is in use by process ${owner.pid} on ${owner.host}; several instances need the Redis store (remove ${path} only if that process is gone)`,
      );
    }
    if (!owner && startedLately(path)) break;
    removeIfStill(path, text, me.token);
    tookOver = true;
  }
  throw new PortcullisError('DATA_DIR_LOCKED', `could not lock ${dataDir}: another process is starting on it`);
}

/** Creates `path` holding `text`, or returns false when it exists: the file is written first, so no reader sees it partial. */
function createWhole(path: string, text: string): boolean {
  const draft = `${path}.${randomBytes(8).toString('hex')}`;
  try {
    writeFileSync(draft, text, { flag: 'wx', mode: 0o600 });
    try {
      linkSync(draft, path);
      return true;
    } catch (error) {
      if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    // Written in place, so it can be read half-written for a moment (startedLately).
    writeFileSync(path, text, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** Whether the lock at `path` is still this process's after a moment (lockDataDir). */
function stillOwn(path: string, token: string): boolean {
  pause(SETTLE_MS);
  return readOwner(readLock(path))?.token === token;
}

/** Whether a lock that is not one (yet) was written lately: a process writing it now, not a crash long ago. */
function startedLately(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < STARTING_MS;
  } catch {
    return false;
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
  let moved = readLock(aside);
  // Without hard links a lock is written in place: one moved while it was written is read again once it is whole.
  if (moved !== null && moved !== text && !readOwner(moved)) {
    pause(SETTLE_MS);
    moved = readLock(aside);
  }
  // A put-back that fails leaves the moved lock where it is, for its owner's operator to see.
  if (moved !== null && moved !== text) putBack(aside, moved, path);
  rmSync(aside, { force: true });
}

/** Puts a live lock moved aside back, unless a lock was made meanwhile (the moved one's owner then finds its lock gone if it looks: stillOwn). */
function putBack(aside: string, text: string, path: string): void {
  try {
    linkSync(aside, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return;
    if (!NO_HARD_LINKS.has(code)) throw error;
    try {
      writeFileSync(path, text, { flag: 'wx', mode: 0o600 });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}

/** Blocks for `ms`: the lock is taken once, at start, before anything else runs. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
