import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import { oversizedStub, startAuditExport } from '../../server/export/exporter.js';
import type { ExportLag, ExporterOptions } from '../../server/export/exporter.js';
import { exportItem } from '../../server/export/export-record.js';
import { JsonLinesFileTransport } from '../../server/export/jsonl-file.js';
import { SplunkHecTransport } from '../../server/export/splunk-hec.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { sinkConfig } from '../support/export-fixture.js';
import { captureLogs } from '../support/log-capture.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { startHecReceiver } from '../support/siem-receivers.js';

const TOKEN = 'hec-token-exporter-test-0123456789';
/** Short leases and backoff: a receiver down "for a while" is a few hundred milliseconds here. */
const TIMING = { renewIntervalMs: 50, leaseTtlMs: 2_000, retryMs: 20, backoffBaseMs: 20, backoffCapMs: 200, lagIntervalMs: 50 };

let tls: TestTls;
beforeAll(async () => {
  tls = await testTls();
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Backend = 'embedded' | 'redis';

/** Stores of one instance; `again()` another instance on the same data (Redis only: the embedded store is one process's). */
async function storesFor(backend: Backend): Promise<{ stores: Stores; again: () => Promise<Stores> }> {
  const prefix = uniquePrefix();
  const open = backend === 'redis' ? () => redisStoresForTest({ prefix, clock: systemClock }) : () => createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-export-')), clock: systemClock });
  const opened = async () => {
    const stores = await open();
    cleanups.push(() => stores.close());
    return stores;
  };
  return { stores: await opened(), again: opened };
}

async function append(stores: Stores, count: number): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (let i = 0; i < count; i++) events.push(await stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', server: 'everything', tool: 'echo', data: { n: i } }));
  return events;
}

function exporter(stores: Stores, sinks: ExporterOptions['sinks'], extra: Partial<ExporterOptions> = {}) {
  const running = startAuditExport({ sinks, audit: stores.audit, store: stores.exportCursors, logger: captureLogs().logger, timing: TIMING, ...extra });
  cleanups.push(() => running.stop());
  return running;
}

function hecSink(url: string, batchSize = 7) {
  const config = sinkConfig({ name: 'splunk', type: 'splunk-hec', url, token: TOKEN, format: 'ocsf', batchSize, tls: { ca: tls.ca } });
  return { config, transport: new SplunkHecTransport(config as never) };
}

function onEachStore(name: string, test: (backend: Backend) => Promise<void>) {
  describe(`${name}`, () => {
    it('embedded store', () => test('embedded'));
    describeWithRedis('Redis', () => it('Redis store', () => test('redis')));
  });
}

describe('the audit exporter', () => {
  onEachStore('a receiver down for a while catches up in order once it answers: nothing lost, nothing repeated', async (backend) => {
    const { stores } = await storesFor(backend);
    const hec = await startHecReceiver(tls, TOKEN);
    cleanups.push(hec.stop);
    await hec.stop();
    const outcomes: string[] = [];
    exporter(stores, [hecSink(hec.url)], { onBatch: (_, outcome) => outcomes.push(outcome) });
    const events = await append(stores, 30);
    // Refused (connection refused), backed off, tried again: still refused.
    await expect.poll(() => outcomes.filter((o) => o === 'failed').length, { timeout: 10_000 }).toBeGreaterThan(2);
    await hec.start();
    const more = await append(stores, 10);
    await expect.poll(() => hec.events.length, { timeout: 15_000 }).toBe(40);
    expect(hec.ids()).toEqual([...events, ...more].map((e) => e.id));
    await expect.poll(() => stores.exportCursors.cursor('splunk'), { timeout: 10_000 }).toBe(more.at(-1)!.id);
  });

  onEachStore('writes the json format\'s members in the documented order, whatever order the store keeps them in', async (backend) => {
    const { stores } = await storesFor(backend);
    await append(stores, 2);
    const [event] = await stores.audit.read({ limit: 1 });
    expect(Object.keys(exportItem(event!, 'json').record)).toEqual(['id', 'type', 'outcome', 'actor', 'server', 'tool', 'sessionId', 'data', 'time', 'prevHash', 'hash']);
    expect(exportItem(event!, 'json').record).toEqual(event);
  });

  onEachStore('measures the lag from the committed cursor: events and seconds behind while the receiver is down, none once caught up', async (backend) => {
    const { stores } = await storesFor(backend);
    const hec = await startHecReceiver(tls, TOKEN);
    cleanups.push(hec.stop);
    await hec.stop();
    let lag: ExportLag = { events: -1, seconds: -1 };
    exporter(stores, [hecSink(hec.url)], { onLag: (_, measured) => (lag = measured) });
    await append(stores, 12);
    await expect.poll(() => lag.events, { timeout: 10_000 }).toBe(12);
    await expect.poll(() => lag.seconds, { timeout: 10_000 }).toBeGreaterThan(0);
    await hec.start();
    await expect.poll(() => lag, { timeout: 15_000 }).toEqual({ events: 0, seconds: 0 });
  });

  it('sends one event the receiver refuses as too large on its own as a stub naming it, and goes on with the events after it', async () => {
    const { stores } = await storesFor('embedded');
    const hec = await startHecReceiver(tls, TOKEN, { maxEventBytes: 20_000 });
    cleanups.push(hec.stop);
    const before = await append(stores, 2);
    // Over 32 KiB as a record (each string of it within the log's own bounds).
    const fields = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, 'x'.repeat(400)]));
    const large = await stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', data: { params: fields } });
    const after = await append(stores, 2);
    exporter(stores, [hecSink(hec.url, 1)]);
    await expect.poll(() => stores.exportCursors.cursor('splunk'), { timeout: 15_000 }).toBe(after.at(-1)!.id);
    expect(hec.ids()).toEqual([...before, large, ...after].map((e) => e.id));
    // In the sink's format (OCSF here): the stub's event, not the event's data.
    const stub = hec.events.find((r) => r.id === large.id)!.record;
    expect(stub).toEqual(exportItem(oversizedStub(large), 'ocsf').record);
    expect(oversizedStub(large)).toMatchObject({ id: large.id, type: 'mcp.request', actor: 'alice@example.com', hash: large.hash, prevHash: large.prevHash, data: { oversized: true } });
    expect(oversizedStub(large).data.bytes).toBeGreaterThan(40_000);
  });

  it('does not stub a small event a receiver refuses as too large: a receiver so misconfigured holds the sink back, shown as lag', async () => {
    const { stores } = await storesFor('embedded');
    const hec = await startHecReceiver(tls, TOKEN, { maxEventBytes: 4_000 });
    cleanups.push(hec.stop);
    // About 8 KB as a record: more than this receiver takes, far less than any receiver's default limit.
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, 'x'.repeat(400)]));
    await stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', data: { params: fields } });
    exporter(stores, [hecSink(hec.url, 1)]);
    await expect.poll(() => hec.refused.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(hec.events).toEqual([]);
    expect(await stores.exportCursors.cursor('splunk')).toBeNull();
  });

  it('sends a batch the receiver refuses as too large (413) in halves, until each is taken: nothing lost, repeated or out of order', async () => {
    const { stores } = await storesFor('embedded');
    const limits = { maxEventsPerRequest: 2 };
    const hec = await startHecReceiver(tls, TOKEN, limits);
    cleanups.push(hec.stop);
    const events = await append(stores, 15);
    exporter(stores, [hecSink(hec.url, 7)]);
    await expect.poll(() => stores.exportCursors.cursor('splunk'), { timeout: 15_000 }).toBe(events.at(-1)!.id);
    expect(hec.ids()).toEqual(events.map((e) => e.id));
    // Refused twice (7, then its first half of 4), then the sends stay at 2 events until 8 of them were taken.
    expect(hec.refused).toEqual(['413 {"text":"Content too large"}', '413 {"text":"Content too large"}']);
    expect(Math.max(...hec.requests)).toBe(2);
    // One large event must not hold every later send small: once the receiver takes more, the sends grow back to the batch size.
    // A backlog while the receiver is down, then taken whole: 8 sends of 2, 8 of 4, then batches of 7.
    limits.maxEventsPerRequest = Infinity;
    await hec.stop();
    const more = await append(stores, 60);
    const before = hec.requests.length;
    await hec.start();
    await expect.poll(() => stores.exportCursors.cursor('splunk'), { timeout: 15_000 }).toBe(more.at(-1)!.id);
    expect(hec.ids()).toEqual([...events, ...more].map((e) => e.id));
    expect(Math.max(...hec.requests.slice(before))).toBe(7);
  });

  it('stops while the receiver is down: the batch is abandoned uncommitted, and the lease released for the next instance', async () => {
    const { stores } = await storesFor('embedded');
    const hec = await startHecReceiver(tls, TOKEN);
    await hec.stop();
    let failed = 0;
    const running = startAuditExport({ sinks: [hecSink(hec.url)], audit: stores.audit, store: stores.exportCursors, logger: captureLogs().logger, timing: TIMING, onBatch: (_, outcome) => outcome === 'failed' && failed++ });
    await append(stores, 3);
    await expect.poll(() => failed, { timeout: 10_000 }).toBeGreaterThan(1);
    await running.stop();
    expect(await stores.exportCursors.cursor('splunk')).toBeNull();
    expect(await stores.exportCursors.claim('splunk', 'next-instance', Date.now(), Date.now() + 1000)).toEqual({ cursor: null });
  });

  it('a file that already holds a batch written before a crash (its commit lost) is not written again', async () => {
    const { stores } = await storesFor('embedded');
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const path = join(dir, 'audit.jsonl');
    const config = sinkConfig({ name: 'archive', type: 'file', path, format: 'json', batchSize: 10 });
    const events = await append(stores, 15);
    // The previous holder wrote the first 6 and died before committing: the cursor is still unset.
    const before = new JsonLinesFileTransport(config as never, path, () => Date.now());
    await before.send(events.slice(0, 6).map((e) => exportItem(e, 'json')));
    await before.close();
    exporter(stores, [{ config, transport: new JsonLinesFileTransport(config as never, path, () => Date.now()) }]);
    await expect.poll(() => stores.exportCursors.cursor('archive'), { timeout: 10_000 }).toBe(events.at(-1)!.id);
    const ids = readFileSync(path, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toEqual(events.map((e) => e.id));
  });

  it.each([
    ['a torn last line', (record: string) => record.slice(0, 40)],
    ['a whole last record but no newline', (record: string) => record],
  ])('a file a crash left with %s is cut back to its whole lines, and what they lack sent after them: every line parses, none lost or repeated', async (_, crashed) => {
    const { stores } = await storesFor('embedded');
    const path = join(mkdtempSync(join(tmpdir(), 'portcullis-export-file-')), 'audit.jsonl');
    const config = sinkConfig({ name: 'archive', type: 'file', path, format: 'json', batchSize: 10 });
    const events = await append(stores, 15);
    const before = new JsonLinesFileTransport(config as never, path, () => Date.now());
    await before.send(events.slice(0, 6).map((e) => exportItem(e, 'json')));
    await before.close();
    // The previous holder died writing the next batch, its commit never made.
    appendFileSync(path, crashed(JSON.stringify(exportItem(events[6]!, 'json').record)));
    exporter(stores, [{ config, transport: new JsonLinesFileTransport(config as never, path, () => Date.now()) }]);
    await expect.poll(() => stores.exportCursors.cursor('archive'), { timeout: 10_000 }).toBe(events.at(-1)!.id);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(events.map((e) => e.id));
  });

  describeWithRedis('across instances (one Redis)', () => {
    it('one instance exports a sink at a time: each event reaches the receiver once, and after the holder stops the other goes on from its cursor', async () => {
      const { stores, again } = await storesFor('redis');
      const other = await again();
      const hec = await startHecReceiver(tls, TOKEN);
      cleanups.push(hec.stop);
      const a = exporter(stores, [hecSink(hec.url, 5)]);
      exporter(other, [hecSink(hec.url, 5)]);
      const first = await append(stores, 25);
      await expect.poll(() => hec.events.length, { timeout: 15_000 }).toBe(25);
      await a.stop();
      const second = await append(other, 15);
      await expect.poll(() => hec.events.length, { timeout: 15_000 }).toBe(40);
      expect(hec.ids()).toEqual([...first, ...second].map((e) => e.id));
    });
  });
});

describe('the audit exporter in the broker', () => {
  it('exports from a configured sink, its delivered count and lag in /metrics', async () => {
    const { startTestServer, testConfig } = await import('../support/test-server.js');
    const path = join(mkdtempSync(join(tmpdir(), 'portcullis-export-metrics-')), 'audit.jsonl');
    const server = await startTestServer({ config: testConfig({ audit: { export: { sinks: [{ name: 'archive', type: 'file', path, format: 'json' }] } } }), clock: systemClock });
    cleanups.push(() => server.close());
    const events = await append(server.stores, 4);
    const exported = () => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id) : []);
    await expect.poll(() => exported().slice(-4), { timeout: 10_000 }).toEqual(events.map((e) => e.id));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^portcullis_audit_export_events_total\{sink="archive",outcome="delivered"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^portcullis_audit_export_lag_events\{sink="archive"\} \d+$/m);
    expect(metrics).toMatch(/^portcullis_audit_export_lag_seconds\{sink="archive"\} [\d.]+$/m);
  });
});
