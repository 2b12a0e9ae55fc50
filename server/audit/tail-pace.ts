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
 * Called by a caught-up tail before it waits for the next append: sleeps out what is left
 * of the interval since `wokeAt` (performance.now() when its last wait ended). Real time,
 * as the pace is about wake-ups, not about the events' own times.
 */
export async function paceBeforeWait(options: TailOptions | undefined, wokeAt: number, signal: AbortSignal): Promise<void> {
  const left = options?.paceMs === undefined ? 0 : wokeAt + options.paceMs - performance.now();
  if (left > 0) await sleep(left, undefined, { signal }).catch(() => {});
}
