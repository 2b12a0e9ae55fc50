import { AuditLogCorruptError } from '../errors.js';
import { GENESIS_HASH, hashEvent } from './chain.js';
import { anchorProblem, CHECKPOINT_EVENT, readCheckpoint } from './checkpoints.js';
import type { CheckpointStatement } from './checkpoints.js';
import type { AuditKeyRing } from './seal.js';
import type { AuditEvent, ChainAnchor, StoredAuditLog } from './types.js';

export interface VerifyOptions {
  /** Where the retained log starts: null (the genesis hash) when retention never trimmed it. */
  anchor?: ChainAnchor | null;
  /**
   * The public keys checkpoints must be sealed with. With them, every checkpoint and the
   * anchor must verify, and checkpoints must cover the log: see `CheckpointCoverage`.
   */
  keys?: AuditKeyRing;
  /** Longest tolerated time between consecutive checkpoints with events between them. */
  maxGapMs?: number;
  /** The verifier's time (epoch ms): events may follow the last checkpoint only for maxGapMs. */
  now?: number;
}

export interface VerifyReport {
  events: number;
  lastId: string | null;
  lastHash: string;
  checkpoints: {
    /** Checkpoints seen; their seals were checked when `verified` is true. */
    count: number;
    verified: boolean;
    lastTime: string | null;
    /** Events after the last checkpoint (all of them without one): not yet sealed. */
    eventsAfter: number;
  };
  /** The first broken link, or null when the chain is whole. */
  broken: { id: string; position: number; reason: string } | null;
}

type Broken = NonNullable<VerifyReport['broken']>;

/**
 * Walks the chain page by page (constant memory, however long the log): each event's
 * hash must cover its content and its predecessor's hash. Stops at the first break,
 * naming the event where the chain no longer holds.
 */
export async function verifyChain(pages: AsyncIterable<readonly AuditEvent[]> | Iterable<readonly AuditEvent[]>, options: VerifyOptions = {}): Promise<VerifyReport> {
  const anchor = options.anchor ?? null;
  let prev = anchor?.prevHash ?? GENESIS_HASH;
  let count = 0;
  let lastId: string | null = null;
  const coverage = new CheckpointCoverage(options);
  const report = (broken: Broken | null): VerifyReport => ({ events: count, lastId, lastHash: prev, checkpoints: coverage.summary(), broken });
  const anchorBroken = anchor && options.keys ? anchorProblem(anchor, options.keys) : null;
  if (anchorBroken) return report({ id: '(anchor)', position: 0, reason: anchorBroken });
  for await (const page of pages) {
    for (const event of page) {
      count++;
      if (event.prevHash !== prev) return report({ id: event.id, position: count, reason: 'previous hash does not match: an event before it was removed, added or reordered' });
      if (hashEvent(event) !== event.hash) return report({ id: event.id, position: count, reason: 'hash does not match its content: the event was edited' });
      const uncovered = coverage.see(event);
      if (uncovered) return report({ id: event.id, position: count, reason: uncovered });
      prev = event.hash;
      lastId = event.id;
    }
  }
  const unsealed = coverage.end();
  return report(unsealed ? { id: lastId ?? '(start)', position: count, reason: unsealed } : null);
}

/**
 * What signed checkpoints prove. Someone who rewrites an event must recompute every later
 * hash, which invalidates every later checkpoint (each seals its predecessor's hash), so
 * they must drop those checkpoints. The broker seals what it appended at least every
 * interval, and seals before the first event after a quiet spell, so with events between
 * them two checkpoints are at most about two intervals apart: a longer gap, or events
 * left unsealed for longer than that, means checkpoints went missing. A broker that states
 * `every` also seals while idle and states `final` when it stops: a log that ends, all
 * sealed, at a checkpoint older than the gap and not final was cut back to it.
 */
class CheckpointCoverage {
  private count = 0;
  private last: { event: AuditEvent; statement: CheckpointStatement } | null = null;
  private eventsAfter = 0;

  constructor(private readonly options: VerifyOptions) {}

  /** Why the log stops being covered at this event, or null. */
  see(event: AuditEvent): string | null {
    if (event.type !== CHECKPOINT_EVENT) {
      this.eventsAfter++;
      return null;
    }
    const { keys, maxGapMs } = this.options;
    let statement: CheckpointStatement = {};
    if (keys) {
      const read = readCheckpoint(event, keys);
      if ('problem' in read) return read.problem;
      statement = read.statement;
      const last = this.last?.event;
      if (last && this.eventsAfter > 0 && maxGapMs !== undefined && Date.parse(event.time) - Date.parse(last.time) > maxGapMs) {
        return `${this.eventsAfter} events lie between the checkpoints at ${last.time} and ${event.time}, more than the max gap (${maxGapMs / 1000} s) apart: checkpoints between them were removed, or none could be written`;
      }
    }
    this.count++;
    this.last = { event, statement };
    this.eventsAfter = 0;
    return null;
  }

  /** Why the end of the log is not covered, or null. */
  end(): string | null {
    const { keys, maxGapMs, now } = this.options;
    if (!keys) return null;
    if (!this.last) return this.eventsAfter === 0 ? null : `no checkpoint sealed with the given key: nothing vouches for these ${this.eventsAfter} events`;
    const { event, statement } = this.last;
    if (maxGapMs === undefined || now === undefined || now - Date.parse(event.time) <= maxGapMs) return null;
    if (this.eventsAfter > 0) {
      return `${this.eventsAfter} events follow the last checkpoint (${event.time}), sealed longer ago than the max gap (${maxGapMs / 1000} s): checkpoints after it were removed, or the broker stopped without its shutdown checkpoint`;
    }
    if (statement.every !== undefined && !statement.final) {
      return `the log ends at the checkpoint of ${event.time}, sealed longer ago than the max gap (${maxGapMs / 1000} s) by a broker that seals every ${statement.every} s even when idle: what followed it was cut, or the broker stopped without its shutdown checkpoint`;
    }
    return null;
  }

  summary(): VerifyReport['checkpoints'] {
    return { count: this.count, verified: this.options.keys !== undefined, lastTime: this.last?.event.time ?? null, eventsAfter: this.eventsAfter };
  }
}

/** Pages of a log read through its cursor API. */
export async function* pagesOf(read: (after: string | undefined) => Promise<readonly AuditEvent[]>): AsyncIterable<readonly AuditEvent[]> {
  let after: string | undefined;
  for (;;) {
    const page = await read(after);
    if (page.length === 0) return;
    yield page;
    after = page.at(-1)!.id;
  }
}

/** Events per page when a log is verified through its cursor API. */
const VERIFY_PAGE = 1000;

/**
 * Verifies a log through its own API (what the store holds now, while the broker may be
 * appending), from where retention made it start. The chain head the store keeps, read
 * first, must be among the events walked: a head no event has means events were cut from
 * the end. (Read first, not last: events appended during the walk move the head on.)
 */
export async function verifyLog(log: StoredAuditLog, options: Omit<VerifyOptions, 'anchor'>): Promise<VerifyReport> {
  const head = await log.headHash();
  const anchor = await log.anchor();
  let headSeen = head === (anchor?.prevHash ?? GENESIS_HASH);
  async function* watched(): AsyncIterable<readonly AuditEvent[]> {
    for await (const page of pagesOf((after) => log.read({ after, limit: VERIFY_PAGE }))) {
      headSeen ||= page.some((event) => event.hash === head);
      yield page;
    }
  }
  const report = await verifyChain(watched(), { ...options, anchor });
  if (!report.broken && !headSeen) {
    return { ...report, broken: { id: report.lastId ?? '(start)', position: report.events, reason: 'the chain head names a later event: events were cut from the end of the log' } };
  }
  return report;
}

/** A log the store refuses to read (corrupt, or a forged anchor) is reported as broken, not as a crash. */
export async function refusedAsBroken(verify: () => Promise<VerifyReport>): Promise<VerifyReport> {
  try {
    return await verify();
  } catch (error) {
    if (!(error instanceof AuditLogCorruptError)) throw error;
    return { events: 0, lastId: null, lastHash: '', checkpoints: { count: 0, verified: false, lastTime: null, eventsAfter: 0 }, broken: { id: '?', position: 0, reason: error.message } };
  }
}
