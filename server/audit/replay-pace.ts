import { performance } from 'node:perf_hooks';

/** Past events a person's audit reads may pass over without handing them over, per second. */
export const READ_PAST_PER_SECOND = 20_000;

/**
 * Paces what a person's audit reads pass over without handing over (events hidden from them
 * or outside their filter): their feeds replaying from a cursor, and their listings, all
 * together, on this instance. Someone who sees only their own events could otherwise have
 * the broker read and parse the whole log at every subscribe or page. What is handed over,
 * and a feed's live events, are never paced.
 */
export class ReplayPace {
  private readonly allowances = new Map<string, Allowance>();

  constructor(private readonly perSecond = READ_PAST_PER_SECOND) {}

  /**
   * The person's allowance, shared by all their reads while any runs; each lets go of it
   * when it ends. One let go of is kept until it has filled again: ending every read and
   * starting anew gains nothing.
   */
  hold(person: string): Allowance {
    const allowance = this.allowances.get(person) ?? new Allowance(this.perSecond, () => this.allowances.delete(person));
    this.allowances.set(person, allowance);
    allowance.holders++;
    return allowance;
  }
}

export class Allowance {
  holders = 0;
  private left: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly forget: () => void,
  ) {
    this.left = perSecond;
  }

  /**
   * Counts one event a feed read past. Undefined while the allowance lasts; once spent, a
   * pause to wait out before reading on (until a tenth of a second's allowance has come
   * back, so the waits are few), ended early by `signal`.
   */
  skipped(signal: AbortSignal): Promise<void> | undefined {
    this.charge(1);
    // An ended feed may still be handed the rest of a batch read before it ended: not worth a wait.
    if (this.left >= 0 || signal.aborted) return undefined;
    const waitMs = ((this.perSecond / 10 - this.left) * 1000) / this.perSecond;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Counts `events` a listing read past (a listing does not wait: it ends its page early once `spent`). */
  charge(events: number): void {
    this.refill();
    this.left -= events;
  }

  get spent(): boolean {
    this.refill();
    return this.left <= 0;
  }

  release(): void {
    if (--this.holders > 0) return;
    this.refill();
    const fullInMs = ((this.perSecond - this.left) * 1000) / this.perSecond;
    if (fullInMs <= 0) return this.forget();
    setTimeout(() => {
      if (this.holders === 0) this.forget();
    }, fullInMs).unref();
  }

  private refill(): void {
    const now = performance.now();
    this.left = Math.min(this.perSecond, this.left + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
  }
}
