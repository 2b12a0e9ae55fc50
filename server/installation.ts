import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What marks the installation's root: the CLI's entry point. */
const ENTRY_POINT = ['bin', 'portcullis.js'] as const;

/**
 * The root of the installation this module belongs to, found by walking up to the folder
 * holding bin/portcullis.js (the same answer from source and from dist/); null when none does.
 */
export function installationRoot(): string | null {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, ...ENTRY_POINT))) return dir;
  }
  return null;
}

/** bin/portcullis.js of this installation, or null. */
export function entryPointPath(): string | null {
  const root = installationRoot();
  return root === null ? null : join(root, ...ENTRY_POINT);
}
