import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { InvalidCursorError, TrimmedCursorError } from '../errors.js';
import type { Logger } from '../log.js';

/** Longest wait between attempts while the store does not answer. */
const MAX_BACKOFF_MS = 5_000;

/** A store holding one lease and the cursor its holder committed (DetectorStateStore, NotificationStore). */
export interface CursorLease {
  /** Takes or renews the lease for `holder` until `expiresAt` unless another holds it live at `now`; the committed cursor when held. */
  claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null>;
  release(holder: string): Promise<void>;
}

export interface LeaseTiming {
  /** How often the holder renews its lease, and a waiting instance tries to take it. */
  renewIntervalMs: number;
  /** How long a lease lives unrenewed: a dead holder's successor waits this long at most. */
  leaseTtlMs: number;
  /** First wait after a store failure (doubling up to MAX_BACKOFF_MS). */
  retryMs: number;
}

/** Where a term starts: after `after` (null: the oldest retained event); `firstStart` when nothing was ever committed. */
export interface TermStart {
  after: string | null;
  firstStart: boolean;
}

export interface FollowUnderLeaseOptions {
  /** Prefixes its log lines (`outlier detector`, `notifications`). */
  name: string;
  store: CursorLease;
  holder: string;
  /** Real time (renewals run on real timers): a simulated clock that jumps would lapse a live holder's lease. */
  leaseClock: Clock;
  timing: LeaseTiming;
  /** Aborted to stop: the term in progress ends, commits what its follower commits on the way out, and releases the lease. */
  stopping: AbortSignal;
  logger: Logger;
  /**
   * Follows the log from `start` while the lease is held, writing through `term.commit`;
   * returns when `term.signal` aborts (stopped, or the term ended). Whatever it throws ends
   * the term; the next one resumes from the last commit.
   */
  follow: (term: LeaseTerm, start: TermStart) => Promise<void>;
}

/**
 * Follows the audit log under a lease (the outlier detector, the notification dispatcher):
 * one instance at a time holds the lease and follows the log from the cursor it committed,
 * each commit fenced by the lease, so an instance that lost it writes nothing and its
 * successor resumes from the last commit. Waits while another holds it; backs off while
 * the store fails; goes on from the oldest retained event when retention trimmed the
 * committed cursor away; releases the lease on stop, so a successor takes over at once.
 */
export async function followUnderLease(options: FollowUnderLeaseOptions): Promise<void> {
  const { name, logger, stopping, timing } = options;
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopping }).catch(() => {});
  /** The committed cursor is gone from the log (retention trimmed past it): go on from the oldest retained event. */
  let fromStart = false;
  let failures = 0;
  while (!stopping.aborted) {
    const term = new LeaseTerm(options);
    try {
      const claim = await term.claim();
      if (claim === null) {
        await pause(timing.renewIntervalMs);
        continue;
      }
      if ((await term.hold({ after: fromStart ? null : claim.cursor, firstStart: claim.cursor === null }, claim.cursor)) === 'lost') {
        logger.warn(`${name}: lease lost (another instance follows the log now); what was not committed is discarded`);
      }
      failures = 0;
    } catch (error) {
      // Only a cursor retention overtook starts over: one the log never issued (ahead of its
      // end: a store rolled back or wiped) would have everything delivered, or judged, again.
      if (error instanceof TrimmedCursorError && !fromStart) {
        fromStart = true;
        logger.error({ err: error }, `${name}: the committed cursor is no longer in the audit log (trimmed by retention while no instance followed it); going on from the oldest retained event, the trimmed ones passed over`);
        continue;
      }
      failures = term.committed ? 1 : failures + 1;
      const waitMs = Math.min(timing.retryMs * 2 ** (failures - 1), MAX_BACKOFF_MS);
      if (error instanceof InvalidCursorError) {
        logger.error({ err: error, retryInMs: waitMs }, `${name}: the committed cursor is not in this audit log (ahead of its end: the log was rolled back or replaced); waiting, not starting over, which would repeat every retained event`);
      } else {
        logger.warn({ err: error, retryInMs: waitMs }, `${name}: store unavailable; resuming from the last committed cursor`);
      }
      await pause(waitMs);
    } finally {
      if (term.committed) fromStart = false;
    }
  }
}

/**
 * One tenure of the lease: renewed on an interval until lost or stopped. Its follower's
 * writes go through `commit` (fenced), and `stillHeld` before any effect the fence cannot
 * cover (an anomaly raised). Ends 'stopped' (released), 'lost', or throws what the store threw.
 */
export class LeaseTerm {
  /** Something was committed in this term. */
  committed = false;
  private readonly ended = new AbortController();
  private combined: AbortSignal | null = null;
  private lost = false;
  private failure: unknown = null;
  /** The lease is ours until then, as far as this instance knows (its last successful claim). */
  private leaseUntil = 0;
  /** The cursor the store holds as far as this term knows: its own last commit, or what it started from. */
  private stored: string | null = null;
  /** A renewal in flight: waited for before the release, or it would take the lease back after it. */
  private renewing: Promise<void> | null = null;

  constructor(private readonly options: FollowUnderLeaseOptions) {}

  /** Aborts when the follower should stop: the instance stops, or the term ended (lost, failed). Made on first use: a waiting instance makes a term per try, and holds none. */
  get signal(): AbortSignal {
    return (this.combined ??= AbortSignal.any([this.options.stopping, this.ended.signal]));
  }

  /** The term ended (lease lost, or a background write failed): nothing more may be written. */
  get over(): boolean {
    return this.ended.signal.aborted;
  }

  /** Takes or renews the lease; the committed cursor when held. */
  async claim(): Promise<{ cursor: string | null } | null> {
    const { store, holder, leaseClock, timing } = this.options;
    const now = leaseClock.now();
    const claim = await store.claim(holder, now, now + timing.leaseTtlMs);
    if (claim !== null) this.leaseUntil = now + timing.leaseTtlMs;
    return claim;
  }

  /** Follows from `start` with the lease held; `stored` is the cursor the store holds (the same, unless the log lost it). */
  async hold(start: TermStart, stored: string | null): Promise<'stopped' | 'lost'> {
    const { options } = this;
    this.stored = stored;
    const renewal = setInterval(() => {
      this.renewing ??= this.renew().finally(() => (this.renewing = null));
    }, options.timing.renewIntervalMs);
    try {
      await options.follow(this, start);
    } finally {
      clearInterval(renewal);
      await this.renewing;
    }
    if (this.failure !== null) throw this.failure;
    if (this.lost) return 'lost';
    await options.store.release(options.holder).catch((error: unknown) => options.logger.warn({ err: error }, `${options.name}: lease release failed; it lapses by itself`));
    return 'stopped';
  }

  /**
   * Writes through `write` (given the holder and the lease's now, for the store's fence) what moves the
   * committed cursor to `cursor`. Refused after the lease lapsed by the clock alone (no one
   * else committed), it is claimed again and written; refused otherwise, the term is lost.
   */
  async commit(cursor: string, write: (holder: string, leaseNow: number) => Promise<boolean>): Promise<boolean> {
    const fenced = () => write(this.options.holder, this.options.leaseClock.now());
    if (!(await fenced()) && !((await this.reclaimed()) && (await fenced()))) {
      this.leaseLost();
      return false;
    }
    this.stored = cursor;
    this.committed = true;
    return true;
  }

  /** Whether the lease is still ours before an unfenced effect: past its local expiry (the clock jumped, or the process stalled past a renewal) it is claimed again; false ends the term. */
  async stillHeld(): Promise<boolean> {
    if (this.options.leaseClock.now() < this.leaseUntil || (await this.reclaimed())) return true;
    this.leaseLost();
    return false;
  }

  /** Ends the term with `error` (a write in the background failed): `hold` throws it once the follower returned. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.ended.abort();
  }

  /**
   * Claims the lease again; true when it is ours with the store still at this term's cursor.
   * Another instance that took it meanwhile either holds it still (refused), committed (another
   * cursor), or wrote nothing.
   */
  private async reclaimed(): Promise<boolean> {
    const claim = await this.claim();
    return claim !== null && claim.cursor === this.stored;
  }

  private async renew(): Promise<void> {
    try {
      if ((await this.claim()) === null) this.leaseLost();
    } catch (error) {
      // The lease may still be ours: the commit's fence and the local expiry decide.
      this.options.logger.warn({ err: error }, `${this.options.name}: lease renewal failed`);
    }
  }

  private leaseLost(): void {
    this.lost = true;
    this.ended.abort();
  }
}
