import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { liveReadings, QUEUE_READ_EVERY_MS } from '../../server/live-readings.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';

/** The scrape-time readings on a real embedded store: the notification queue is read whole, so not at every scrape. */
describe('liveReadings', () => {
  let dataDir: string;
  let stores: Stores;
  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'portcullis-live-'));
    stores = await createEmbeddedStores({ dataDir, clock: systemClock });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await stores.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reads the notification outbox at most once per QUEUE_READ_EVERY_MS, however often it is asked', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const read = vi.spyOn(stores.notifications, 'entries');
    const readings = liveReadings(stores, { sessions: () => 0, notificationSinks: 1 });
    const counts = await Promise.all(Array.from({ length: 50 }, () => readings.notificationsPending()));
    expect(counts.every((count) => count === 0)).toBe(true);
    expect(read).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(QUEUE_READ_EVERY_MS - 1);
    await readings.notificationsPending();
    expect(read).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    await readings.notificationsPending();
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('reads no outbox without notification sinks', () => {
    const read = vi.spyOn(stores.notifications, 'entries');
    expect(liveReadings(stores, { sessions: () => 0, notificationSinks: 0 }).notificationsPending()).toBeNull();
    expect(read).not.toHaveBeenCalled();
  });
});
