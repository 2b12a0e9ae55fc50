import { performance } from 'node:perf_hooks';

/** Past events a caller's audit feeds may read and not hand over, per second, all their feeds together. */
export const REPLAY_SKIPS_PER_SECOND = 20_000;

/**
 * Paces what audit feeds replaying from a cursor read past without handing over (events
 * hidden from the caller or outside their filter), per caller: a person who sees only their
 * own events could otherwise have each of their subscriptions read the whole log from its
 * start, again at every subscribe, the broker parsing every event each time. What a replay
 * hands over, and live events, are never paced: a SIEM catching up is not slowed.
 */
export class ReplayPace {
  private readonly allowances = new Map<string, Allowance>();

  constructor(private readonly perSecond = REPLAY_SKIPS_PER_SECOND) {}

  /** The caller's allowance, shared by their feeds while any runs: each feed lets go of it when it ends. */
  hold(caller: string): Allowance {
    const allowance = this.allowances.get(caller) ?? new Allowance(this.perSecond, () => this.allowances.delete(caller));
    this.allowances.set(caller, allowance);
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
   * Counts one event read past. Undefined while the allowance lasts; once spent, a pause to
   * wait out before reading on (until a tenth of a second's allowance has come back, so the
   * waits are few), ended early by `signal`.
   */
  skipped(signal: AbortSignal): Promise<void> | undefined {
    const now = performance.now();
    this.left = Math.min(this.perSecond, this.left + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    // An ended feed may still be handed the rest of a batch read before it ended: not worth a wait.
    if (--this.left >= 0 || signal.aborted) return undefined;
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

  release(): void {
    if (--this.holders === 0) this.forget();
  }
}
