import { performance } from 'node:perf_hooks';
import type { LiveReadings } from './metrics.js';
import type { Stores } from './stores/types.js';

/** What the scrape-time gauges read off the stores and the broker (registerLiveGauges). */
export function liveReadings(stores: Stores, options: { sessions: () => number; notificationSinks: number }): LiveReadings {
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
    notificationsPending: () => (options.notificationSinks === 0 ? null : stores.notifications.entries().then((entries) => entries.filter((entry) => entry.status === 'PENDING').length)),
  };
}
