import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { loadConfig } from '../../server/config/load.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { awaitStoreAtStart, createStores } from '../../server/stores/index.js';
import type { Stores } from '../../server/stores/types.js';
import { captureLogs } from './log-capture.js';

/**
 * The broker's stores as `portcullis serve` makes them: `store.redis` as an operator writes
 * it, in a config file read by the loader, its `${file:NAME}` references (passwords, the CA)
 * naming `files` written beside it. Not yet waited for: the caller decides how.
 */
export async function openConfiguredStores(redis: Record<string, unknown>, files: Record<string, string>): Promise<Stores> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-store-config-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const file = join(dir, 'portcullis.yaml');
  // JSON is YAML: the object is the configuration as written.
  writeFileSync(file, JSON.stringify({ server: { publicUrl: 'http://127.0.0.1:8080' }, store: { redis } }));
  const { config } = loadConfig(file, {});
  return createStores(config, { clock: systemClock, baseDir: dir });
}

const LOGIN = { type: 'auth.login', outcome: 'SUCCESS', actor: 'alice@example.com' } as const;

/** The configured stores connect, and an audit event appended is read back. */
export async function expectAuditRoundTrip(redis: Record<string, unknown>, files: Record<string, string>): Promise<void> {
  const stores = await openConfiguredStores(redis, files);
  try {
    await stores.waitReady();
    const event = await stores.audit.append(LOGIN);
    expect(await stores.audit.read({ limit: 10 })).toEqual([event]);
  } finally {
    await stores.close();
  }
}

/** What a broker whose store refused it shows: its start-up log, and an audit append's fate. */
export interface RefusalAtStart {
  /** The log lines written while waiting for the store, joined. */
  log: string;
  appendError: unknown;
}

/**
 * Opens the configured stores and waits for them as `portcullis serve` does, into a log
 * kept in memory without the broker's secret scrubber (so only the error itself can keep
 * a password out of it), then tries to record an event.
 */
export async function refusalAtStart(redis: Record<string, unknown>, files: Record<string, string>): Promise<RefusalAtStart> {
  const stores = await openConfiguredStores(redis, files);
  const { logger, lines } = captureLogs();
  try {
    await awaitStoreAtStart(stores, logger);
    const appendError = await stores.audit.append(LOGIN).then(() => undefined, (error: unknown) => error);
    return { log: lines.join(''), appendError };
  } finally {
    await stores.close();
  }
}

/** A password no server takes. */
export const WRONG_PASSWORD = 'not-the-password-5d1c08';

/**
 * The broker found the store unavailable (STORE_UNAVAILABLE, logged once with the reason),
 * refused to record an event rather than act unrecorded, and no password, right or wrong,
 * reached the log.
 */
export function expectRefusedAtStart(refusal: RefusalAtStart, reason: RegExp, passwords: string[]): void {
  const lines = refusal.log.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; err?: { code: string; message: string } });
  expect(lines).toEqual([expect.objectContaining({ msg: expect.stringMatching(/^store unreachable at start/), err: expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(reason) }) })]);
  expect(refusal.appendError).toBeInstanceOf(StoreUnavailableError);
  for (const password of [...passwords, WRONG_PASSWORD]) expect(refusal.log).not.toContain(password);
}
