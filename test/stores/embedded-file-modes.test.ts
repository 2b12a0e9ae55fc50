import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { ManualClock } from '../support/manual-clock.js';

const mode = (path: string) => statSync(path).mode & 0o777;

it('narrows a data dir and an audit log made looser before it started to owner only: 0700 and 0600', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'portcullis-embedded-')), 'data');
  const audit = join(dataDir, AUDIT_FILE_NAME);
  mkdirSync(dataDir);
  writeFileSync(audit, '');
  // Set outright: the umask would have narrowed the modes mkdir and writeFile were given.
  chmodSync(dataDir, 0o755);
  chmodSync(audit, 0o644);
  const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock() });
  try {
    expect([mode(dataDir), mode(audit)]).toEqual([0o700, 0o600]);
  } finally {
    await stores.close();
  }
});
