import { performance } from 'node:perf_hooks';

/** Past events a person's audit reads may pass over without handing them over, per second. */
export const READ_PAST_PER_SECOND = 20_000;

/**
 * Paces what a person's audit reads pass over without handing over (events hidden from them
 * or outside their filter): their feeds replaying from a cursor, and their listings, all
 * together, on this instance: a feed waits, and so does a listing, for a while (then it
 * answers with where it stopped). Someone who sees only their own events could otherwise have the
 * broker read and parse the whole log at every subscribe or page. What is handed over, and
 * a feed's live events, are never paced.
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
    let allowance = this.allowances.get(person);
    if (!allowance) {
      const made = new Allowance(this.perSecond, () => this.allowances.get(person) === made && this.allowances.delete(person));
      this.allowances.set(person, (allowance = made));
    }
    allowance.take();
    return allowance;
  }
}

export class Allowance {
  private holders = 0;
  private left: number;
  private at = performance.now();
  /** Set while no read holds it: forgets it once it is full again. */
  private whenFull: NodeJS.Timeout | undefined;

  constructor(
    private readonly perSecond: number,
    private readonly forget: () => void,
  ) {
    this.left = perSecond;
  }

  take(): void {
    this.holders++;
    clearTimeout(this.whenFull);
    this.whenFull = undefined;
  }

  /** Counts events a read passed over without handing them over. */
  passed(events: number): void {
    this.refill();
    this.left -= events;
  }

  /**
   * Undefined while the allowance lasts; once spent, a pause to wait out before reading on
   * (until a tenth of a second's allowance has come back, so the waits are few, or at
   * most `maxMs`), ended early by `signal`.
   */
  wait(signal?: AbortSignal, maxMs = Number.POSITIVE_INFINITY): Promise<void> | undefined {
    this.refill();
    // An ended read may still be handed the rest of a batch read before it ended: not worth a wait.
    if (this.left >= 0 || signal?.aborted) return undefined;
    const waitMs = Math.min(maxMs, ((this.perSecond / 10 - this.left) * 1000) / this.perSecond);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  release(): void {
    if (--this.holders === 0) this.forgetWhenFull();
  }

  private forgetWhenFull(): void {
    this.refill();
    if (this.left >= this.perSecond) return void this.forget();
    this.whenFull = setTimeout(() => this.forgetWhenFull(), ((this.perSecond - this.left) * 1000) / this.perSecond);
    this.whenFull.unref();
  }

  private refill(): void {
    const now = performance.now();
    this.left = Math.min(this.perSecond, this.left + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
  }
}
