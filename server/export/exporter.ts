import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { followUnderLease } from '../audit/follow-under-lease.js';
import type { LeaseTerm, LeaseTiming, TermStart } from '../audit/follow-under-lease.js';
import type { AuditEvent, AuditLog } from '../audit/types.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { Logger } from '../log.js';
import { fullJitterBackoff } from '../notifications/backoff.js';
import type { ExportCursorStore } from '../stores/types.js';
import type { ExportSinkConfig } from './export-config.js';
import { exportItem } from './export-record.js';
import { nextBatch } from './next-batch.js';
import type { ExportItem, ExportTransport } from './types.js';

export interface ExporterTiming extends LeaseTiming {
  /** Waits while a receiver does not acknowledge: full jitter under min(cap, base·2^(failures-1)). */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** How often each instance measures every sink's lag (from the committed cursor). */
  lagIntervalMs: number;
}

export const DEFAULT_EXPORTER_TIMING: ExporterTiming = { renewIntervalMs: 2_000, leaseTtlMs: 10_000, retryMs: 500, backoffBaseMs: 1_000, backoffCapMs: 60_000, lagIntervalMs: 5_000 };

/** Events counted behind a cursor at most (one read per sink and interval): past it the lag reads "at least this many". */
export const LAG_COUNT_CAP = 10_000;

export interface ExportLag {
  /** Events after the committed cursor (at most LAG_COUNT_CAP). */
  events: number;
  /** Age of the oldest of them; 0 when none is behind. */
  seconds: number;
}

export interface ExporterOptions {
  sinks: readonly { config: ExportSinkConfig; transport: ExportTransport }[];
  audit: AuditLog;
  store: ExportCursorStore;
  logger: Logger;
  /** Real time for the lease and the lag. */
  leaseClock?: Clock;
  /** In [0, 1): the backoff's jitter. */
  random?: () => number;
  timing?: Partial<ExporterTiming>;
  /** A batch acknowledged (`delivered`) or not (`failed`), with its size. */
  onBatch?: (sink: string, outcome: 'delivered' | 'failed' | 'stubbed', events: number) => void;
  onLag?: (sink: string, lag: ExportLag) => void;
}

export interface AuditExporter {
  /** Stops every sink: a batch in flight is abandoned uncommitted (the next holder sends it again), each lease released. */
  stop(): Promise<void>;
}

/**
 * Audit export (issue 20): each sink follows the audit log under its own lease, from its
 * own cursor, which moves only after the receiver acknowledged a batch. So a restart, a
 * crash or a receiver that is down loses nothing: the holder (or its successor) sends again
 * from the cursor, in log order, backing off with jitter while the receiver refuses. A crash
 * between an acknowledgment and its commit repeats that one batch (the file sink reads its
 * last line back and repeats nothing); every record carries the audit id to de-duplicate on.
 */
export function startAuditExport(options: ExporterOptions): AuditExporter {
  const timing = { ...DEFAULT_EXPORTER_TIMING, ...options.timing };
  const leaseClock = options.leaseClock ?? systemClock;
  const stopping = new AbortController();
  const holder = randomUUID();
  const running = options.sinks.map(({ config, transport }) =>
    followUnderLease({
      name: `audit export ${config.name}`,
      store: { claim: (h, now, expiresAt) => options.store.claim(config.name, h, now, expiresAt), release: (h) => options.store.release(config.name, h) },
      holder,
      leaseClock,
      timing,
      stopping: stopping.signal,
      logger: options.logger,
      follow: (term, start) => new SinkExport(config, transport, options, timing).follow(term, start),
    }),
  );
  const lag = setInterval(() => void measureLag(options, leaseClock), timing.lagIntervalMs);
  void measureLag(options, leaseClock);
  return {
    stop: async () => {
      clearInterval(lag);
      stopping.abort();
      await Promise.all(running);
      await Promise.all(options.sinks.map(({ transport }) => transport.close().catch(() => {})));
    },
  };
}

/** Sends taken at a size lowered by a 413 before it doubles again (SinkExport.grow). */
const GROW_AFTER_SENDS = 8;

/** One sink's term under its lease: batches from the log, sent until acknowledged, the cursor committed after each. */
class SinkExport {
  /** Events per send: the batch size, less after the receiver refused a send as too large (deliver), growing back as sends are taken. */
  private sendSize = 0;
  /** Sends acknowledged since sendSize last changed. */
  private takenAtSize = 0;

  constructor(
    private readonly config: ExportSinkConfig,
    private readonly transport: ExportTransport,
    private readonly options: ExporterOptions,
    private readonly timing: ExporterTiming,
  ) {}

  async follow(term: LeaseTerm, start: TermStart): Promise<void> {
    const after = await this.afterDelivered(term, start.after);
    if (after === undefined) return;
    const events = this.options.audit.tail(after === null ? 'start' : { after }, term.signal)[Symbol.asyncIterator]();
    const batches = nextBatch(events, this.config.batchSize);
    this.sendSize = this.config.batchSize;
    this.takenAtSize = 0;
    for (let batch = await batches(); batch !== null && !term.signal.aborted; batch = await batches()) {
      if (!(await this.deliverInParts(term, batch))) return;
    }
  }

  /** A batch in sends of at most sendSize events, in order; false when the term ended first. */
  private async deliverInParts(term: LeaseTerm, batch: readonly AuditEvent[]): Promise<boolean> {
    for (let from = 0; from < batch.length; ) {
      // Where this send ends is fixed before it goes: a refusal shrinks the sends after it, not its span.
      const to = Math.min(batch.length, from + this.sendSize);
      if (!(await this.deliver(term, batch.slice(from, to)))) return false;
      from = to;
    }
    return true;
  }

  /**
   * Where to go on from: the committed cursor, or past it when the receiver already holds more
   * (a crash after a send, before its commit: the file reads its last line back). At most one
   * batch can be there uncommitted, so only the next `batchSize` events are looked at.
   * Undefined when the term ended.
   */
  private async afterDelivered(term: LeaseTerm, cursor: string | null): Promise<string | null | undefined> {
    const last = await this.transport.lastDelivered?.();
    if (last == null || last === cursor) return cursor;
    const ahead = await this.options.audit.read({ ...(cursor === null ? {} : { after: cursor }), limit: this.config.batchSize });
    if (!ahead.some((event) => event.id === last)) return cursor;
    return (await this.commit(term, last)) ? last : undefined;
  }

  /**
   * Sends until acknowledged (backing off between tries), then commits; false when the term
   * ended first. A send the receiver refuses as too large goes again in halves, each committed
   * once acknowledged (sent whole again it would be refused for ever, and the sink would
   * export nothing more; a single event refused so goes as its `oversizedStub`), and the
   * sends after it are no larger until GROW_AFTER_SENDS of them are taken (grow).
   */
  private async deliver(term: LeaseTerm, batch: readonly AuditEvent[]): Promise<boolean> {
    let items = batch.map((event) => exportItem(event, this.config.format));
    let stubbed = false;
    for (let failures = 0; ; ) {
      // Another instance may hold the lease after a stall: it, not this one, sends now.
      if (!(await term.stillHeld())) return false;
      try {
        await this.transport.send(items, term.signal);
        this.options.onBatch?.(this.config.name, 'delivered', items.length);
        this.grow();
        return this.commit(term, items.at(-1)!.id);
      } catch (error) {
        if (term.signal.aborted) return false;
        failures++;
        this.options.onBatch?.(this.config.name, 'failed', items.length);
        if (error instanceof ExportNotAcknowledgedError && error.tooLarge && batch.length > 1) {
          this.options.logger.warn({ sink: this.config.name, events: batch.length }, 'audit export: the receiver refused a batch as too large; sending it in halves');
          this.sendSize = Math.min(this.sendSize, Math.ceil(batch.length / 2));
          this.takenAtSize = 0;
          return this.deliverInParts(term, batch);
        }
        if (error instanceof ExportNotAcknowledgedError && error.tooLarge && !stubbed && recordBytes(items[0]!) > STUB_ABOVE_BYTES) {
          // One large event the receiver will never take: sent whole it would hold every later event back for ever.
          // (A receiver refusing small ones is misconfigured: that stalls, and shows as lag, as any refusal does.)
          const stub = oversizedStub(batch[0]!);
          this.options.onBatch?.(this.config.name, 'stubbed', 1);
          this.options.logger.error({ sink: this.config.name, eventId: stub.id, bytes: stub.data.bytes }, 'audit export: the receiver refused one event as too large; sending a stub that names it (read the event from the broker\'s log)');
          items = [exportItem(stub, this.config.format)];
          stubbed = true;
          continue;
        }
        const waitMs = fullJitterBackoff(failures, this.timing.backoffBaseMs, this.timing.backoffCapMs, this.options.random ?? Math.random);
        this.options.logger.warn({ err: error, sink: this.config.name, failures, retryInMs: waitMs }, 'audit export: batch not acknowledged; sending it again after a backoff');
        await sleep(waitMs, undefined, { signal: term.signal }).catch(() => {});
        if (term.signal.aborted) return false;
      }
    }
  }

  /**
   * A 413 is about bytes, not events: one large event should not hold every later send to a
   * few events (a request and a commit each, falling behind a busy log). After GROW_AFTER_SENDS
   * sends taken at a smaller size, the size doubles, up to batchSize: a receiver whose limit
   * stays low costs one refusal per that many sends.
   */
  private grow(): void {
    if (this.sendSize >= this.config.batchSize || ++this.takenAtSize < GROW_AFTER_SENDS) return;
    this.sendSize = Math.min(this.config.batchSize, this.sendSize * 2);
    this.takenAtSize = 0;
  }

  private commit(term: LeaseTerm, cursor: string): Promise<boolean> {
    return term.commit(cursor, (holder, leaseNow) => this.options.store.commit(this.config.name, holder, leaseNow, cursor));
  }
}

/** Every sink's lag from its committed cursor, on every instance (whichever holds the lease). */
async function measureLag(options: ExporterOptions, clock: Clock): Promise<void> {
  if (!options.onLag) return;
  for (const { config } of options.sinks) {
    try {
      const cursor = await options.store.cursor(config.name);
      const ahead = await options.audit.read({ ...(cursor === null ? {} : { after: cursor }), limit: LAG_COUNT_CAP });
      const oldest = ahead[0];
      options.onLag(config.name, { events: ahead.length, seconds: oldest ? Math.max(0, clock.now() - Date.parse(oldest.time)) / 1000 : 0 });
    } catch (error) {
      options.logger.debug({ err: error, sink: config.name }, 'audit export: lag not measured');
    }
  }
}

/**
 * The size above which one event a receiver refuses as too large goes as its stub: every
 * receiver takes events this small (HEC's default limit is 1 MB, OTLP collectors' 4 MiB or
 * more), and people's arguments are cut to 8 KiB each, so only an event grown large in the
 * sink's encoding gets there.
 */
const STUB_ABOVE_BYTES = 32 * 1024;

function recordBytes(item: ExportItem): number {
  return Buffer.byteLength(JSON.stringify(item.record));
}

/**
 * What a sink gets for an event its receiver refused as too large on its own: the event's
 * id, type, time, actor, place in the chain and hash, and its size, with `data.oversized`.
 * Its `hash` is the original's, which this record does not match: the whole event stays in
 * the broker's log (the `auditEvents` API, `portcullis audit tail`), where it verifies.
 */
export function oversizedStub(event: AuditEvent): AuditEvent & { data: { oversized: true; bytes: number } } {
  return { ...event, data: { oversized: true, bytes: Buffer.byteLength(JSON.stringify(event.data)) } };
}
