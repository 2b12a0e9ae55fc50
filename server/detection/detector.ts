import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditLog } from '../audit/types.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { AccessStore, DetectorStateStore } from '../stores/types.js';
import { followUnderLease } from '../audit/follow-under-lease.js';
import type { LeaseTerm } from '../audit/follow-under-lease.js';
import { EntityCache } from './entity-cache.js';
import { Evaluator } from './evaluator.js';
import type { EvaluationStats } from './evaluator.js';
import { GrantRoles } from './grant-roles.js';
import { NOT_RAISED, raisedAfter } from './raised-before.js';
import type { AnomalyRaiser, Detection, DetectionRule, EntityState, RaisedBefore } from './types.js';

const DAY_MS = 86_400_000;

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
  /** First wait after a store failure (doubling up to 5 s). */
  retryMs: number;
  /** Entity states kept in memory in front of the store. */
  cachedEntities: number;
  /**
   * Caught up, the detector is woken for new events at most this often (TailOptions.paceMs):
   * a detection waits up to this long more (the goal is under a second from call to alert),
   * and the relay it shares a process with is spared a wake-up, a store read and a few
   * promise turns per audited event.
   */
  readIntervalMs: number;
}

export const DEFAULT_DETECTOR_TIMING: DetectorTiming = { renewIntervalMs: 2_000, leaseTtlMs: 10_000, commitIntervalMs: 5_000, commitEvery: 20_000, retryMs: 500, cachedEntities: 20_000, readIntervalMs: 50 };

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
  /** Told of each event once evaluated (the lag metric). */
  onEvaluated?: (event: AuditEvent) => void;
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
  readonly timing: DetectorTiming;
  readonly cache: EntityCache;
  readonly evaluator: Evaluator;

  constructor(readonly options: DetectorOptions) {
    this.timing = { ...DEFAULT_DETECTOR_TIMING, ...options.timing };
    this.cache = new EntityCache(this.timing.cachedEntities);
    const roles = new GrantRoles(options.access);
    this.evaluator = new Evaluator({ state: options.state, roles, rules: options.rules, config: options.config.detection, cache: this.cache, stats: this.stats });
  }

  run(): Promise<void> {
    const { options, timing } = this;
    return followUnderLease({
      name: 'outlier detector',
      store: options.state,
      holder: randomUUID(),
      leaseClock: options.leaseClock ?? systemClock,
      timing,
      stopping: this.stopping.signal,
      logger: options.logger,
      follow: (lease, start) => new Term(this, lease).evaluate(start.after),
    });
  }
}

/**
 * Evaluation while this instance holds the lease: a recovery scan, then the tail, with
 * commits of cursor and learned state at event boundaries, fenced by the lease.
 */
class Term {
  /** The last evaluated event, and how many were evaluated since the last commit. */
  private position: string | null = null;
  private pending = 0;
  private busy = false;
  private committing: Promise<void> | null = null;

  constructor(
    private readonly detector: StreamingDetector,
    private readonly lease: LeaseTerm,
  ) {}

  /** Evaluates after `cursor` until stopped or the lease is lost; commits on the way out unless lost. */
  async evaluate(cursor: string | null): Promise<void> {
    const { options, timing, cache, evaluator, stats } = this.detector;
    const { lease } = this;
    cache.clear();
    this.position = cursor;
    stats.holding = true;
    const flush = setInterval(() => {
      if (!this.busy && this.committing === null && this.pending > 0) this.committing = this.commit().catch((error: unknown) => lease.fail(error)).finally(() => (this.committing = null));
    }, timing.commitIntervalMs);
    try {
      const before = await raisedAfter(options.audit, cursor, lease.signal);
      for await (const event of options.audit.tail(cursor === null ? 'start' : { after: cursor }, lease.signal, { paceMs: timing.readIntervalMs })) {
        if (this.committing !== null) await this.committing;
        if (lease.over) break;
        this.busy = true;
        if (!(await this.evaluateOne(event, before, evaluator))) break;
        options.onEvaluated?.(event);
        this.position = event.id;
        this.pending++;
        this.busy = false;
        if (this.pending >= timing.commitEvery) await this.commit();
      }
    } finally {
      clearInterval(flush);
      await this.committing;
      stats.holding = false;
    }
    if (!lease.over) await this.commit().catch((error: unknown) => options.logger.warn({ err: error }, 'outlier detector: final commit failed; the next instance re-evaluates from the last commit'));
  }

  /** Evaluates one event and raises its detections; false when the lease lapsed first (nothing more may be raised). */
  private async evaluateOne(event: AuditEvent, before: ReadonlyMap<string, RaisedBefore>, evaluator: Evaluator): Promise<boolean> {
    const detections = await evaluator.evaluate(event);
    for (const detection of detections) {
      // A raise is not fenced by the store: the lease is checked (claimed again past its local expiry) before each.
      if (!(await this.lease.stillHeld())) return false;
      await this.raise(detection, before.get(detection.id));
    }
    return true;
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
    const position = this.position;
    if (!(await this.lease.commit(position, (holder, leaseNow) => options.state.commit(holder, leaseNow, position, entities, maxEntities)))) return;
    cache.committed();
    this.pending = 0;
  }
}
