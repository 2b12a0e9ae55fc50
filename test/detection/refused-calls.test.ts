import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requestEvent } from '../../broker/request-audit.js';
import type { Detector } from '../../server/detection/detector.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { appendCall, startTestDetector } from '../support/detection.js';
import { ManualClock } from '../support/manual-clock.js';
import { testConfig } from '../support/test-server.js';

const MALLORY = 'mallory@example.com';
const QUIET = 'quiet@example.com';
const DENIALS = 1_000;
/** Far fewer entities than the denials: a store filled with made-up tools would push the quiet user out. */
const config = testConfig({ detection: { warmupDays: 1, warmupEvents: 1, maxEntities: 50 } });

let stores: Stores;
let detector: Detector;
afterEach(async () => {
  await detector.stop();
  await stores.close();
});

/**
 * A refused tools/call is audited under whatever tool name the client sent, and refusals
 * are not held to the per-call rate limits: they must not make a tool's entity, or anyone
 * could fill the detector's store with made-up tools and evict real people's baselines.
 */
describe('refused calls of made-up tools', () => {
  it('make no tool entity, count on the user alone, and push no one else’s state out', async () => {
    const clock = new ManualClock();
    stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-refused-')), clock });
    detector = startTestDetector(stores, clock, config);
    await appendCall(stores.audit, QUIET, 1);
    await expect.poll(async () => (await stores.detector.load([`user:${QUIET}`])).size).toBe(1);
    clock.advance(60_000);
    for (let i = 0; i < DENIALS; i++) {
      const name = `junk-${i}`;
      const refused = requestEvent({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name } }, name, 'DENIED', { reason: 'tool_not_granted' });
      await stores.audit.append({ ...refused, actor: MALLORY, server: 'everything', sessionId: 's-mallory' });
    }
    await expect.poll(() => detector.stats.observations, { timeout: 10_000 }).toBe(DENIALS + 1);
    await detector.stop();
    const junk = Array.from({ length: DENIALS }, (_, i) => `tool:everything/junk-${i}`);
    expect([...(await stores.detector.load(junk)).keys()]).toEqual([]);
    const kept = await stores.detector.load([`user:${QUIET}`, `user:${MALLORY}`, 'tool:everything/echo']);
    expect(kept.get(`user:${QUIET}`)).toMatchObject({ count: 1 });
    expect(kept.get(`user:${MALLORY}`)).toMatchObject({ count: DENIALS });
    expect(kept.get('tool:everything/echo')).toMatchObject({ count: 1 });
  });
});
