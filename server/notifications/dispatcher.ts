import { randomUUID } from 'node:crypto';
import { followUnderLease } from '../audit/follow-under-lease.js';
import type { LeaseTerm, TermStart } from '../audit/follow-under-lease.js';
import type { AuditEvent, AuditLog } from '../audit/types.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import type { NotificationSinkConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { NotificationStore, OutboxEntry } from '../stores/types.js';
import { fullJitterBackoff } from './backoff.js';
import { addressesPeople, notificationOf, sinkTakes } from './notification-event.js';
import { pendingEntry, subjectOf } from './outbox-entry.js';
import type { EventSources } from './notification-event.js';
import type { NotificationSink } from './types.js';

const DAY_MS = 86_400_000;

export interface DispatcherTiming {
  /** How often the follower renews its lease, and a waiting instance tries to take it. */
  renewIntervalMs: number;
  /** How long a lease lives unrenewed: a dead follower's successor waits this long at most. */
  leaseTtlMs: number;
  /** First wait after a store failure (doubling up to 5 s). */
  retryMs: number;
  /** How often each sink looks for due deliveries (an enqueue on this instance wakes it at once). */
  pollMs: number;
  /** Deliveries in flight per sink at most. */
  concurrency: number;
  /** Retry waits: full jitter under min(cap, base·2^(attempt-1)). */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** A claim outlives the sink's own timeout by this much; past it another instance may try. */
  claimMarginMs: number;
  /** Events that owe nothing are passed over with the cursor committed this often (a crash replays at most these, owing nothing). */
  commitEvery: number;
  /** Delivered entries stay listed this long; pending and dead ones `keepUndeliveredMs`. */
  keepDeliveredMs: number;
  keepUndeliveredMs: number;
  /** On a first start (no cursor yet), events older than this are not sent: a new install does not replay its history. */
  firstStartLookbackMs: number;
}

export const DEFAULT_DISPATCHER_TIMING: DispatcherTiming = {
  renewIntervalMs: 2_000,
  leaseTtlMs: 10_000,
  retryMs: 500,
  pollMs: 500,
  concurrency: 4,
  backoffBaseMs: 1_000,
  backoffCapMs: 300_000,
  claimMarginMs: 5_000,
  commitEvery: 500,
  keepDeliveredMs: 7 * DAY_MS,
  keepUndeliveredMs: 30 * DAY_MS,
  firstStartLookbackMs: 60_000,
};

export interface DispatcherOptions {
  sinks: readonly { config: NotificationSinkConfig; sink: NotificationSink }[];
  audit: AuditLog;
  store: NotificationStore;
  sources: EventSources;
  /** Business time: due times, backoff, retention of entries. */
  clock: Clock;
  /** Real time for the lease (as the detector's). */
  leaseClock?: Clock;
  /** In [0, 1): the jitter (a test fixes it). */
  random?: () => number;
  logger: Logger;
  timing?: Partial<DispatcherTiming>;
  /** Told of every settled try (metrics), with the time since its audit event. */
  onSettled?: (sink: string, outcome: 'delivered' | 'retry' | 'dead', lagMs: number) => void;
}

export interface Dispatcher {
  /** Looks for due deliveries now (after a retry was requested through the API). */
  wake(): void;
  /** Stops following and delivering; a delivery in flight is aborted and stays claimed until its claim lapses. */
  stop(): Promise<void>;
}

/**
 * The durable notification dispatcher (issue 19). One instance at a time (the lease holder)
 * follows the audit log and writes, per event, one outbox entry per sink that takes it,
 * with the advanced cursor, in one fenced step: a crash neither loses nor repeats an entry.
 * Every instance delivers: each sink on its own loop, an entry claimed in the store before
 * it is tried, so two instances never try it at once. Delivery is at least once with a
 * stable id (`<sink>:<event id>`): a try whose outcome was lost (a crash mid-POST) is made
 * again with the same id, for the receiver to de-duplicate.
 */
export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const dispatcher = new NotificationDispatcher(options);
  const running = Promise.all([dispatcher.follow(), ...options.sinks.map(({ config, sink }) => dispatcher.deliverLoop(config, sink))]);
  return {
    wake: () => dispatcher.wake(),
    stop: async () => {
      dispatcher.stopping.abort();
      dispatcher.wake();
      await running;
    },
  };
}

class NotificationDispatcher {
  readonly stopping = new AbortController();
  private readonly holder = randomUUID();
  private readonly timing: DispatcherTiming;
  private readonly random: () => number;
  private wakers: (() => void)[] = [];

  constructor(private readonly options: DispatcherOptions) {
    this.timing = { ...DEFAULT_DISPATCHER_TIMING, ...options.timing };
    this.random = options.random ?? Math.random;
  }

  wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }

  /** Holds the lease when it can, and fills the outbox while it does. */
  follow(): Promise<void> {
    return followUnderLease({
      name: 'notifications',
      store: this.options.store,
      holder: this.holder,
      leaseClock: this.options.leaseClock ?? systemClock,
      timing: this.timing,
      stopping: this.stopping.signal,
      logger: this.options.logger,
      follow: (lease, start) => this.fill(lease, start),
    });
  }

  /** Follows the log after `start` while the lease is held, writing each event's entries with the cursor in one fenced step. */
  private async fill(lease: LeaseTerm, { after, firstStart }: TermStart): Promise<void> {
    const { audit, store, clock } = this.options;
    const notBefore = firstStart ? clock.now() - this.timing.firstStartLookbackMs : -Infinity;
    let uncommitted: string | null = null;
    let passed = 0;
    const commit = async (position: string, entries: OutboxEntry[]) => {
      const written = await lease.commit(position, (holder, leaseNow) => store.enqueue(holder, leaseNow, position, entries, clock.now() + this.timing.keepUndeliveredMs));
      if (written) {
        uncommitted = null;
        passed = 0;
      }
      return written;
    };
    for await (const event of audit.tail(after === null ? 'start' : { after }, lease.signal)) {
      const entries = Date.parse(event.time) >= notBefore ? await this.entriesFor(event) : [];
      if (entries.length > 0 || ++passed >= this.timing.commitEvery) {
        if (!(await commit(event.id, entries))) return;
        if (entries.length > 0) this.wake();
      } else uncommitted = event.id;
    }
    if (uncommitted !== null && !lease.over) await commit(uncommitted, []).catch(() => {});
  }

  private async entriesFor(event: AuditEvent): Promise<OutboxEntry[]> {
    const sinks = this.options.sinks.filter(({ config }) => sinkTakes(config, event));
    if (sinks.length === 0) return [];
    const { event: notification, recipients } = await notificationOf(event, this.options.sources, sinks.some(({ config }) => addressesPeople(config)));
    const now = this.options.clock.now();
    return sinks.map(({ config, sink }) => pendingEntry(config.name, notification, addressesPeople(config) ? recipients : [], now, sink.keepsMemo === true));
  }

  /** One sink's deliveries: due entries claimed and tried, at most `concurrency` at once, independent of every other sink. */
  async deliverLoop(config: NotificationSinkConfig, sink: NotificationSink): Promise<void> {
    const inFlight = new Set<string>();
    const flights = new Set<Promise<void>>();
    while (!this.stopping.signal.aborted) {
      try {
        const now = this.options.clock.now();
        const room = this.timing.concurrency - inFlight.size;
        const due = room > 0 ? (await this.options.store.due(config.name, now, this.timing.concurrency)).filter((e) => !inFlight.has(e.id)) : [];
        for (const entry of due.slice(0, room)) {
          inFlight.add(entry.id);
          const flight = this.attempt(config, sink, entry)
            .catch((error: unknown) => this.options.logger.warn({ err: error, sink: config.name }, 'notifications: delivery bookkeeping failed; the claim lapses and it is tried again'))
            .finally(() => {
              inFlight.delete(entry.id);
              flights.delete(flight);
              this.wake();
            });
          flights.add(flight);
        }
      } catch (error) {
        this.options.logger.warn({ err: error, sink: config.name }, 'notifications: outbox unavailable');
      }
      await this.nextLook();
    }
    await Promise.all(flights);
  }

  /** Claims the entry, tries it once, and records the outcome (delivered, due again later, or dead); a follow-up whose subject's first message is pending waits instead. */
  private async attempt(config: NotificationSinkConfig, sink: NotificationSink, entry: OutboxEntry): Promise<void> {
    const { store, clock } = this.options;
    const claimedAt = clock.now();
    const memoKey = subjectOf(entry);
    const waitUntil = sink.keepsMemo === true && memoKey !== null && entry.opens === undefined ? await this.openerPending(memoKey, claimedAt) : null;
    if (waitUntil !== null) {
      // Not an attempt: put off (the loop goes on with other entries), looked at again when the first message may have settled.
      await store.update({ ...entry, dueAt: waitUntil, updatedAt: claimedAt, version: entry.version + 1 }, claimedAt + this.timing.keepUndeliveredMs);
      return;
    }
    const timeoutMs = 'timeoutMs' in config ? config.timeoutMs : 30_000;
    const claimed: OutboxEntry = { ...entry, claimedBy: this.holder, claimedUntil: claimedAt + timeoutMs + this.timing.claimMarginMs, updatedAt: claimedAt, version: entry.version + 1 };
    if (!(await store.update(claimed, claimedAt + this.timing.keepUndeliveredMs))) return;
    const attempts = entry.attempts + 1;
    // Read after the opener was seen settled: a delivered first message stored its memo before its outcome.
    const memo = memoKey === null ? null : await store.memo(memoKey);
    const outcome = await sink.deliver({ id: entry.id, sink: entry.sink, event: entry.event, attempt: attempts, memo, recipients: entry.recipients }, this.stopping.signal);
    if (this.stopping.signal.aborted && !outcome.ok) return;
    const now = clock.now();
    const base = { ...claimed, attempts, claimedBy: null, claimedUntil: 0, updatedAt: now, version: claimed.version + 1 };
    let next: OutboxEntry;
    let result: 'delivered' | 'retry' | 'dead';
    if (outcome.ok) [next, result] = [{ ...base, status: 'DELIVERED', lastError: null }, 'delivered'];
    else if (outcome.retry && attempts < config.maxAttempts) {
      [next, result] = [{ ...base, lastError: outcome.error, dueAt: now + fullJitterBackoff(attempts, this.timing.backoffBaseMs, this.timing.backoffCapMs, this.random) }, 'retry'];
    } else [next, result] = [{ ...base, status: 'DEAD', lastError: outcome.error }, 'dead'];
    const keep = now + (next.status === 'DELIVERED' ? this.timing.keepDeliveredMs : this.timing.keepUndeliveredMs);
    if (outcome.ok && outcome.memo !== undefined && memoKey !== null) await store.setMemo(memoKey, outcome.memo, now + this.timing.keepUndeliveredMs);
    if (!(await store.update(next, keep))) this.options.logger.warn({ sink: config.name, delivery: entry.id }, 'notifications: the delivery changed while it was tried (its claim lapsed); its outcome is not recorded');
    if (result === 'dead') this.options.logger.warn({ sink: config.name, delivery: entry.id, error: outcome.ok ? null : outcome.error, attempts }, 'notifications: delivery failed for good (dead letter)');
    this.options.onSettled?.(config.name, result, now - Date.parse(entry.event.time));
  }

  /**
   * When a follow-up of `subject` is to be looked at again, while the subject's first message
   * (its opener) is still pending; null when that one was delivered or died (or none is kept).
   * Tried before the first stored its memo, the follow-up would post a second message instead
   * of updating the first (deliveries run side by side, on every instance).
   */
  private async openerPending(subject: string, now: number): Promise<number | null> {
    const { store } = this.options;
    const id = await store.opener(subject);
    const first = id === null ? null : await store.get(id);
    if (first?.status !== 'PENDING') return null;
    // In flight: its outcome may come any moment; waiting for a retry: not before that.
    return Math.max(first.claimedUntil > now ? 0 : first.dueAt, now + this.timing.pollMs);
  }

  /** Until woken (an enqueue, a settled try, a retry requested) or pollMs passed: whichever first. */
  private nextLook(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener('abort', done);
        this.wakers = this.wakers.filter((wake) => wake !== done);
        resolve();
      };
      const timer = setTimeout(done, this.timing.pollMs);
      this.stopping.signal.addEventListener('abort', done, { once: true });
      this.wakers.push(done);
    });
  }

}
