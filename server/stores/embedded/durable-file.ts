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

/**
 * `path` opened for appending (created if missing), owner only even when it was made or
 * copied in looser: the state journal holds the hashes of live credentials, the audit log
 * who did what.
 */
export async function openOwnerOnly(path: string): Promise<FileHandle> {
  const file = await open(path, 'a', 0o600);
  try {
    await file.chmod(0o600);
  } catch (error) {
    await file.close();
    throw error;
  }
  return file;
}

/**
 * Appends `text` to `file` and fdatasyncs it. When that fails, cuts the file back to the
 * length it had, or the next append would bury a torn line mid-file; when the cut fails
 * too, `broken` is told why. Throws the append's error.
 */
export async function appendOrUndo(file: FileHandle, text: string, broken: (error: Error) => void): Promise<void> {
  // The length the file has, not one the caller counted: after a replacement whose directory
  // sync failed the handle is on the new, shorter file, and cutting back to the old one's
  // length would grow it with zeros that later appends land behind.
  const { size } = await file.stat();
  try {
    await file.appendFile(text);
    await file.datasync();
  } catch (error) {
    await file.truncate(size).catch((truncateError: unknown) => broken(asError(truncateError)));
    throw error;
  }
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
    broken(asError(error));
    return null;
  }
  await old.close();
  return file;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
