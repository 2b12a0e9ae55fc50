import { setTimeout as sleep } from 'node:timers/promises';

/** How a tail is followed. */
export interface TailOptions {
  /**
   * A follower that needs no event sooner than this many milliseconds after the last time
   * it was woken for new ones (the outlier detector) is woken at most once per interval and
   * reads what came meanwhile as one batch: under a steady trickle of calls that is one
   * store read and one wake-up per interval instead of one per event. Absent: every event
   * as soon as it is appended (a live subscription).
   */
  paceMs?: number;
}

/**
 * One tail's pacing, for the stores' follow loops: before a caught-up tail waits for the
 * next append, `pause()` sleeps out what is left of the interval since it was last woken
 * (`woken()`), ended early by the tail's signal or the store's closing. Real time, as the
 * pace is about wake-ups, not about the events' own times. An unpaced tail never pauses
 * and costs nothing here.
 */
export class TailPace {
  private wokeAt = Number.NEGATIVE_INFINITY;
  private interrupt: AbortSignal | undefined;

  constructor(
    private readonly options: TailOptions | undefined,
    /** The tail's own signal, and the store's closing: either ends a pause. */
    private readonly ends: AbortSignal[],
  ) {}

  get paced(): boolean {
    return this.options?.paceMs !== undefined;
  }

  /** The sleep to await before waiting, or null when there is none to do. */
  pause(): Promise<void> | null {
    const left = this.options?.paceMs === undefined ? 0 : this.wokeAt + this.options.paceMs - performance.now();
    if (left <= 0) return null;
    return sleep(left, undefined, { signal: (this.interrupt ??= AbortSignal.any(this.ends)) }).catch(() => {});
  }

  woken(): void {
    this.wokeAt = performance.now();
  }
}
