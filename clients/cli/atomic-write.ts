import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Writes `text` to a fresh file beside `path` and renames it over `path`: never half-written,
 * and a name chosen at random and opened exclusively cannot be a symlink someone planted to
 * make us write elsewhere (a fixed `path.tmp` in a shared directory could be).
 */
export function writeFileAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, text, { mode, flag: 'wx' });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
