import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The file operations the embedded store's files (the audit log, the state journal) rely
 * on to survive a crash whole: a file's name is durable only once its directory is
 * (fsync(2)), so creating or replacing one syncs the directory too.
 */

/** Makes the directory entries of `path`'s directory durable (a created or renamed file). */
export function syncDirectory(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `text` in one rename: a crash leaves either the old file or the new one, whole, and owner-only. */
export async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  // A leftover from an interrupted replacement would keep its own mode under 'w': made anew, owner only.
  rmSync(tmp, { force: true });
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  renameSync(tmp, path);
  syncDirectory(path);
}

/** Cuts a torn tail (a write a crash interrupted) off `path`. */
export function truncateFile(path: string, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * `path` opened anew for appending, in place of `old` (closed then): after a replacement,
 * `old` may be the replaced file's, so when `path` cannot be opened nothing may be
 * acknowledged through `old` any more: `broken` is told why, and null returned.
 */
export async function reopenForAppend(path: string, old: FileHandle, broken: (error: Error) => void): Promise<FileHandle | null> {
  let file: FileHandle;
  try {
    file = await open(path, 'a', 0o600);
  } catch (error) {
    broken(error instanceof Error ? error : new Error(String(error)));
    return null;
  }
  await old.close();
  return file;
}
