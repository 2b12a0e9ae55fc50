import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRetention } from '../../server/audit/retention.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { EXPORT_HOLD_MS, unexportedEvents } from '../../server/export/unexported.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { startTestServer, testConfig } from '../support/test-server.js';

const HOUR = 3_600_000;

/**
 * Count retention waits for export sinks that are behind (for a day): someone flooding the
 * log while a receiver is down must not push what they did before out of the log and the SIEM.
 */
describe('what export sinks have yet to send', () => {
  const open: Stores[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function logOf(count: number) {
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-unexported-')), clock, audit: { retention: true } });
    open.push(stores);
    const events = [];
    for (let n = 0; n < count; n++) events.push(await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } }));
    return { clock, stores, events };
  }

  it('holds each sink\'s next event (the first one for a sink that sent nothing), none for a sink caught up; the count then trims only before them', async () => {
    const { clock, stores, events } = await logOf(8);
    const cursors: Record<string, string | null> = { hec: events[4]!.id, otlp: events[2]!.id, file: events[7]!.id };
    const { logger } = captureLogs();
    const held = await unexportedEvents({ sinks: ['hec', 'otlp', 'file'], cursors: { cursor: async (sink) => cursors[sink]! }, audit: stores.audit, clock, logger });
    expect(held).toEqual([events[5]!.id, events[3]!.id]);
    expect(await stores.audit.trim({ keep: 2, holdFrom: held })).toBe(3);
    expect(await unexportedEvents({ sinks: ['new'], cursors: { cursor: async () => null }, audit: stores.audit, clock, logger })).toEqual([events[3]!.id]);
  });

  it('stops holding for a sink more than a day behind, and for one whose cursor retention passed, and says so', async () => {
    const { clock, stores, events } = await logOf(4);
    const logs = captureLogs();
    const cursors = { cursor: async () => events[0]!.id };
    expect(await unexportedEvents({ sinks: ['hec'], cursors, audit: stores.audit, clock, logger: logs.logger })).toEqual([events[1]!.id]);
    clock.advance(EXPORT_HOLD_MS + 1);
    expect(await unexportedEvents({ sinks: ['hec'], cursors, audit: stores.audit, clock, logger: logs.logger })).toEqual([]);
    expect(logs.lines.join('')).toMatch(/"sink":"hec".*more than 24 h behind/);
    // Once the age rule trimmed past its cursor, the sink has lost events already: holding from the oldest kept (always young) would hold for ever.
    await stores.audit.trim({ keep: 2 });
    clock.advance(-EXPORT_HOLD_MS);
    expect(await unexportedEvents({ sinks: ['hec'], cursors, audit: stores.audit, clock, logger: logs.logger })).toEqual([]);
    expect(logs.lines.join('')).toMatch(/"sink":"hec".*count retention holds nothing for it/);
  });
});

describe('retention when the sinks\' cursors cannot be read', () => {
  it('trims by age only: the count, which waits for sinks, waits for the next pass', async () => {
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-unread-')), clock, audit: { retention: true } });
    for (let n = 0; n < 6; n++) {
      await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
      clock.advance(HOUR);
    }
    const unreadable = () => unexportedEvents({ sinks: ['hec'], cursors: { cursor: () => Promise.reject(new StoreUnavailableError('export cursors')) }, audit: stores.audit, clock, logger: captureLogs().logger });
    await expect(unreadable()).rejects.toBeInstanceOf(StoreUnavailableError);
    // By age (4.5 h) four stay; the count (2) would have left two.
    const stop = startRetention(stores.audit, { maxAgeDays: 4.5 / 24, maxEvents: 2 }, clock, captureLogs().logger, unreadable);
    await expect.poll(async () => (await stores.audit.read({ limit: 100 })).length).toBe(4);
    stop();
    await stores.close();
  });
});

describe('a broker with count retention and a sink that is down', () => {
  /** The logins a broker keeps of ten, retention at 3, with these sinks, once its first pass ran. */
  async function keptWith(sinks: Record<string, unknown>[]): Promise<number> {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-held-'));
    const config = testConfig({ store: { dataDir }, audit: { retention: { maxEvents: 3 }, export: { sinks: sinks.map((sink) => ({ ...sink, path: join(dataDir, 'missing', 'audit.jsonl') })) } } });
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), audit: { retention: true } });
    for (let n = 0; n < 10; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
    const server = await startTestServer({ config, stores });
    try {
      // Retention runs as the broker starts, then each minute.
      await new Promise((r) => setTimeout(r, 500));
      return (await stores.audit.read({ limit: 100 })).filter((e) => e.type === 'auth.login').length;
    } finally {
      await server.close();
    }
  }

  it('keeps every event the sink has yet to send, where without a sink it keeps the bound', async () => {
    expect(await keptWith([])).toBe(3);
    // A file sink that cannot write (its directory does not exist): it sends nothing.
    expect(await keptWith([{ name: 'archive', type: 'file', format: 'json' }])).toBe(10);
  });
});
