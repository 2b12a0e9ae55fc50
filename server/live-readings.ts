import type { LiveReadings } from './metrics.js';
import type { Stores } from './stores/types.js';

/**
 * The outbox is read whole to count what waits in it: at most once in this long, however
 * often /metrics is asked (a scraper set too eager, or anyone who reaches it), so the
 * store's and the event loop's cost stays bounded by the queue's size, not by the asking.
 */
export const QUEUE_READ_EVERY_MS = 5_000;

/** What the scrape-time gauges read off the stores and the broker (registerLiveGauges). */
export function liveReadings(stores: Stores, options: { sessions: () => number; notificationSinks: number }): LiveReadings {
  let queue: { at: number; pending: Promise<number> } | null = null;
  const pendingNow = () => stores.notifications.entries().then((entries) => entries.filter((entry) => entry.status === 'PENDING').length);
  return {
    sessions: options.sessions,
    store: stores.kind,
    storePing: async () => {
      const start = performance.now();
      try {
        await stores.ping();
        return (performance.now() - start) / 1000;
      } catch {
        return null;
      }
    },
    notificationsPending: () => {
      if (options.notificationSinks === 0) return null;
      const now = performance.now();
      if (queue === null || now - queue.at >= QUEUE_READ_EVERY_MS) queue = { at: now, pending: pendingNow() };
      return queue.pending;
    },
  };
}
