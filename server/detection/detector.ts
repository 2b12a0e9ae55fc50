import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent, AuditLog } from '../audit/types.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { InvalidCursorError } from '../errors.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { AccessStore, DetectorClaim, DetectorStateStore } from '../stores/types.js';
import { EntityCache } from './entity-cache.js';
import { Evaluator } from './evaluator.js';
import type { EvaluationStats } from './evaluator.js';
import { GrantRoles } from './grant-roles.js';
import { NOT_RAISED, raisedAfter } from './raised-before.js';
import type { AnomalyRaiser, Detection, DetectionRule, EntityState, RaisedBefore } from './types.js';

const DAY_MS = 86_400_000;
/** Longest wait between attempts while the store does not answer. */
const MAX_BACKOFF_MS = 5_000;

export interface DetectorTiming {
  /** How often the holder renews its lease, and a waiting instance tries to take it. */
  renewIntervalMs: number;
  /** How long a lease lives unrenewed: a dead holder's successor waits this long at most. Three renewals or more. */
  leaseTtlMs: number;
  /**
   * Commit the cursor and changed state at least this often while events come in… Each
   * commit serialises every entity changed since the last (a user's state is a few KB with
   * the shipped rules): the longer the interval, the more events share that cost. A crash
   * costs only a replay of what followed the last commit (judged alike).
   */
  commitIntervalMs: number;
  /** …and after this many events. */
  commitEvery: number;
  /** First wait after a store failure (doubling up to MAX_BACKOFF_MS). */
  retryMs: number;
  /** Entity states kept in memory in front of the store. */
  cachedEntities: number;
}

export const DEFAULT_DETECTOR_TIMING: DetectorTiming = { renewIntervalMs: 2_000, leaseTtlMs: 10_000, commitIntervalMs: 5_000, commitEvery: 20_000, retryMs: 500, cachedEntities: 20_000 };

export interface DetectorOptions {
  config: PortcullisConfig;
  audit: AuditLog;
  state: DetectorStateStore;
  /** Where the role behind a grant is looked up. */
  access: Pick<AccessStore, 'getGrant'>;
  rules: readonly DetectionRule[];
  raiser: AnomalyRaiser;
  /** Business time: what the rules and the store judge by (a test or a replay may drive it). */
  clock: Clock;
  /**
   * Real time for the lease (renewals run on real timers): the system clock unless a test
   * drives it. A simulated clock that jumps would otherwise lapse a live holder's lease.
   */
  leaseClock?: Clock;
  logger: Logger;
  timing?: Partial<DetectorTiming>;
}

export interface DetectorStats extends EvaluationStats {
  /** Detections handed to the raiser (suppressed ones are not). */
  detectionsRaised: number;
  /** Whether this instance holds the lease (evaluates) now. */
  holding: boolean;
}

export interface Detector {
  readonly stats: Readonly<DetectorStats>;
  /** Commits what was evaluated and releases the lease, so another instance takes over at once. */
  stop(): Promise<void>;
}

/**
 * The streaming outlier detector (issue 17): follows the audit log from the committed
 * cursor and hands each rule's finding to the raiser, exactly once across restarts and
 * instances. One instance evaluates at a time (it holds the lease); a commit of cursor and
 * learned state is fenced by that lease, so an instance that lost it writes nothing, and
 * its successor replays from the last commit, judging alike (event times, never the wall
 * clock) and skipping what the log shows was already raised.
 */
export function startDetector(options: DetectorOptions): Detector {
  const detector = new StreamingDetector(options);
  const running = detector.run();
  return {
    stats: detector.stats,
    stop: async () => {
      detector.stopping.abort();
      await running;
    },
  };
}

class StreamingDetector {
  readonly stopping = new AbortController();
  readonly stats: DetectorStats = { events: 0, observations: 0, evaluationMs: 0, detectionsRaised: 0, holding: false };
  readonly holder = randomUUID();
  readonly timing: DetectorTiming;
  readonly leaseClock: Clock;
  readonly cache: EntityCache;
  readonly evaluator: Evaluator;
  /** The lease is ours until then, as far as this instance knows (its last successful claim). */
  private leaseUntil = 0;
  /** The committed cursor is gone from the log (retention trimmed past it): go on from the oldest retained event. */
  private fromStart = false;

  constructor(readonly options: DetectorOptions) {
    this.timing = { ...DEFAULT_DETECTOR_TIMING, ...options.timing };
    this.leaseClock = options.leaseClock ?? systemClock;
    this.cache = new EntityCache(this.timing.cachedEntities);
    const roles = new GrantRoles(options.access);
    this.evaluator = new Evaluator({ state: options.state, roles, rules: options.rules, config: options.config.detection, cache: this.cache, stats: this.stats });
  }

  async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const term = new Term(this);
      try {
        const claim = await this.claim();
        if (claim === null) {
          await this.pause(this.timing.renewIntervalMs);
          continue;
        }
        if ((await term.hold(this.fromStart ? null : claim.cursor, claim.cursor)) === 'lost') this.options.logger.warn('outlier detector: lease lost (another instance evaluates now); discarded what was not committed');
        failures = 0;
      } catch (error) {
        if (error instanceof InvalidCursorError && !this.fromStart) {
          this.fromStart = true;
          this.options.logger.error({ err: error }, 'outlier detector: its committed cursor is no longer in the audit log (trimmed by retention while no instance evaluated); going on from the oldest retained event, the trimmed ones unjudged');
          continue;
        }
        failures = term.committed ? 1 : failures + 1;
        const waitMs = Math.min(this.timing.retryMs * 2 ** (failures - 1), MAX_BACKOFF_MS);
        this.options.logger.warn({ err: error, retryInMs: waitMs }, 'outlier detector: store unavailable; resuming from the last committed cursor');
        await this.pause(waitMs);
      } finally {
        if (term.committed) this.fromStart = false;
      }
    }
  }

  /** Takes or renews the lease; the committed cursor when held. */
  async claim(): Promise<DetectorClaim | null> {
    const now = this.leaseClock.now();
    const claim = await this.options.state.claim(this.holder, now, now + this.timing.leaseTtlMs);
    if (claim !== null) this.leaseUntil = now + this.timing.leaseTtlMs;
    return claim;
  }

  leaseLive(): boolean {
    return this.leaseClock.now() < this.leaseUntil;
  }

  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => {});
  }
}

/**
 * Evaluation while this instance holds the lease: a recovery scan, then the tail, with
 * commits at event boundaries. Ends 'stopped' (committed and released), 'lost' (the lease
 * went to another instance), or throws what the store threw (the caller resumes from the
 * committed cursor).
 */
class Term {
  committed = false;
  private readonly ended = new AbortController();
  private lost = false;
  private failure: unknown = null;
  /** The last evaluated event, and how many were evaluated since the last commit. */
  private position: string | null = null;
  private pending = 0;
  /** The cursor the store holds as far as this term knows: its own last commit, or what it started from. */
  private stored: string | null = null;
  private busy = false;
  private committing: Promise<void> | null = null;
  /** A renewal in flight: waited for before the release, or it would take the lease back after it. */
  private renewing: Promise<void> | null = null;

  constructor(private readonly detector: StreamingDetector) {}

  /** Evaluates after `cursor`; `stored` is the cursor the store holds (the same, unless the log lost it). */
  async hold(cursor: string | null, stored: string | null): Promise<'stopped' | 'lost'> {
    const { options, timing, cache, evaluator, stats, stopping } = this.detector;
    const signal = AbortSignal.any([stopping.signal, this.ended.signal]);
    cache.clear();
    this.position = cursor;
    this.stored = stored;
    stats.holding = true;
    const renewal = setInterval(() => {
      this.renewing ??= this.renew().finally(() => (this.renewing = null));
    }, timing.renewIntervalMs);
    const flush = setInterval(() => {
      if (!this.busy && this.committing === null && this.pending > 0) this.committing = this.commit().catch((error: unknown) => this.fail(error)).finally(() => (this.committing = null));
    }, timing.commitIntervalMs);
    try {
      const before = await raisedAfter(options.audit, cursor, signal);
      for await (const event of options.audit.tail(cursor === null ? 'start' : { after: cursor }, signal)) {
        if (this.committing !== null) await this.committing;
        if (this.ended.signal.aborted) break;
        this.busy = true;
        if (!(await this.evaluate(event, before, evaluator))) break;
        this.position = event.id;
        this.pending++;
        this.busy = false;
        if (this.pending >= timing.commitEvery) await this.commit();
      }
    } finally {
      clearInterval(renewal);
      clearInterval(flush);
      await Promise.all([this.committing, this.renewing]);
      stats.holding = false;
    }
    if (this.failure !== null) throw this.failure;
    if (this.lost) return 'lost';
    await this.commit().catch((error: unknown) => options.logger.warn({ err: error }, 'outlier detector: final commit failed; the next instance re-evaluates from the last commit'));
    if (this.lost) return 'lost';
    await options.state.release(this.detector.holder).catch((error: unknown) => options.logger.warn({ err: error }, 'outlier detector: lease release failed; it lapses by itself'));
    return 'stopped';
  }

  /** Evaluates one event and raises its detections; false when the lease lapsed first (nothing more may be raised). */
  private async evaluate(event: AuditEvent, before: ReadonlyMap<string, RaisedBefore>, evaluator: Evaluator): Promise<boolean> {
    const detections = await evaluator.evaluate(event);
    for (const detection of detections) {
      if (!(await this.stillHeld())) {
        this.leaseLost();
        return false;
      }
      await this.raise(detection, before.get(detection.id));
    }
    return true;
  }

  /** Whether the lease is still ours before a raise: past its local expiry (the clock jumped, or the process stalled past a renewal) it is claimed again. */
  private async stillHeld(): Promise<boolean> {
    return this.detector.leaseLive() || this.reclaimed();
  }

  /**
   * Claims the lease again; true when it is ours with the store still at this term's cursor.
   * Another instance that took it meanwhile either holds it still (refused), committed (another
   * cursor), or evaluated nothing.
   */
  private async reclaimed(): Promise<boolean> {
    const claim = await this.detector.claim();
    return claim !== null && claim.cursor === this.stored;
  }

  private async raise(detection: Detection, before: RaisedBefore | undefined): Promise<void> {
    const { options, stats } = this.detector;
    // Raised before: finish it whatever the suppressions say now, as the first evaluator would have.
    if (before?.detectedEventId == null && (await options.raiser.isSuppressed(detection.user, detection.rule))) return;
    await options.raiser.raise(detection, before ?? NOT_RAISED);
    stats.detectionsRaised++;
  }

  /** Writes the cursor and changed state, fenced by the lease; a refusal ends the term. */
  private async commit(): Promise<void> {
    if (this.pending === 0 || this.position === null) return;
    const { options, cache } = this.detector;
    const { stateTtlDays, maxEntities } = options.config.detection;
    const entities = new Map<string, { state: EntityState; expiresAt: number }>();
    for (const [key, state] of cache.dirty()) entities.set(key, { state, expiresAt: state.lastSeen + stateTtlDays * DAY_MS });
    const commit = () => options.state.commit(this.detector.holder, this.detector.leaseClock.now(), this.position!, entities, maxEntities);
    // Refused after the lease lapsed by the clock alone (no one else committed): taken again, as before a raise.
    if (!(await commit()) && !((await this.reclaimed()) && (await commit()))) return this.leaseLost();
    cache.committed();
    this.stored = this.position;
    this.pending = 0;
    this.committed = true;
  }

  private async renew(): Promise<void> {
    try {
      if ((await this.detector.claim()) === null) this.leaseLost();
    } catch (error) {
      // The lease may still be ours: the commit's fence and the local expiry decide.
      this.detector.options.logger.warn({ err: error }, 'outlier detector: lease renewal failed');
    }
  }

  private leaseLost(): void {
    this.lost = true;
    this.ended.abort();
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.ended.abort();
  }
}
