import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { Stores } from '../../server/stores/types.js';
import { killBroker, serveBroker, writeRedisBrokerConfig } from '../support/broker-process.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'broker-kill-webhook-secret-0123456789abcdef';
/** Requests filed while the first broker runs, and after it died. */
const BEFORE = 6;
const AFTER = 6;
/** The receiver leaves its first answers hanging: those deliveries are in flight when the broker is killed. */
const HUNG = 3;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describeWithRedis('notifications across a broker killed mid-delivery', () => {
  it('every request is delivered under its one delivery id; only what was in flight at the kill is sent again, under the same id', { timeout: 120_000 }, async () => {
    const hook = await startWebhookReceiver(SECRET, (n) => (n < HUNG ? 'hang' : 200));
    cleanups.push(hook.close);
    // A short sink timeout: a claim of the dead broker lapses (timeout + margin) within seconds.
    const { config, prefix } = writeRedisBrokerConfig(
      'notify-kill',
      `notifications:
  sinks:
    - { name: hook, type: webhook, url: "${hook.url}", secret: "\${env:HOOK_SECRET}", events: [access_request.created], timeoutMs: 1000 }
`,
    );
    const env = { HOOK_SECRET: SECRET };
    const stores: Stores = await redisStoresForTest({ prefix, clock: systemClock });
    cleanups.push(() => stores.close());
    const track = (cleanup: () => Promise<void>) => cleanups.push(cleanup);
    const file = async (n: number) =>
      (
        await stores.audit.append({
          type: 'access_request.created',
          outcome: 'SUCCESS',
          actor: 'alice@example.com',
          server: 'everything',
          data: { requestId: `req-${n}`, requester: 'alice@example.com', tools: ['echo'], durationSeconds: 600, reason: `kill ${n}` },
        })
      ).id;

    const first = await serveBroker(config, env, track);
    const filed: string[] = [];
    for (let n = 0; n < BEFORE; n++) filed.push(await file(n));
    // The first deliveries hang at the receiver: the broker dies while they are in flight.
    await expect.poll(() => hook.received.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(HUNG);
    await killBroker(first);
    const triedByFirst = hook.ids();
    for (let n = BEFORE; n < BEFORE + AFTER; n++) filed.push(await file(n));

    await serveBroker(config, env, track);
    const expected = filed.map((id) => `hook:${id}`);
    const acknowledged = () => [...new Set(hook.ids().filter((_, n) => n >= HUNG))].sort();
    await expect.poll(acknowledged, { timeout: 60_000 }).toEqual([...expected].sort());

    const ids = hook.ids();
    expect(hook.received.every((r) => r.verified)).toBe(true);
    // Nothing but the filed requests; a repeat only of a delivery the dead broker had tried (its outcome died with it).
    expect(new Set(ids)).toEqual(new Set(expected));
    const repeated = ids.filter((id, n) => ids.indexOf(id) !== n);
    expect(repeated.length).toBeGreaterThanOrEqual(HUNG);
    expect(repeated.every((id) => triedByFirst.includes(id))).toBe(true);
  });
});
