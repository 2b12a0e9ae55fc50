import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWebhookReceiver } from '../../test/support/webhook-receiver.js';
import { benchConfig, signInPerson } from '../deployment.js';
import { atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';

const REQUESTS = 500;
const SECRET = 'bench-webhook-secret-0123456789abcdef0123';
const ARRIVAL_TIMEOUT_MS = 10_000;

/**
 * Notifications (issue 19, point 6): a broker with one webhook sink on a loopback receiver
 * (in this process), a person filing requests one after another; each is timed from the
 * createAccessRequest call to its delivery's arrival. The same requests on a broker with no
 * sink give the outbox's cost: the broker CPU per event beyond the baseline's.
 */
export const notifications: Scenario = {
  name: 'notifications',
  async run(ctx) {
    const { env } = ctx;
    const hook = await startWebhookReceiver(SECRET);
    try {
      const sink = { name: 'bench', type: 'webhook', url: hook.url, secret: SECRET, events: ['access_request.created'] };
      const withSink = await ctx.startBroker({ ...benchConfig(env, `bench:${randomUUID()}:`), notifications: { sinks: [sink] } });
      const baseline = await ctx.startBroker(benchConfig(env, `bench:${randomUUID()}:`));
      const n = ctx.size(REQUESTS);
      const notified = await signInPerson(withSink, env.idp, 'notified', ['engineering']);
      const plain = await signInPerson(baseline, env.idp, 'plain', ['engineering']);
      // Warm-up: the first request of each pays for compilation and connections.
      await plain.grant('http');
      await notified.grant('http');
      await until(() => hook.received.length >= 1);
      ctx.progress(`${n} requests, each timed to its webhook`);

      const latencies: number[] = [];
      let lost = 0;
      const timed = await withSink.window('notified', async () => {
        for (let i = 0; i < n; i++) {
          const before = hook.received.length;
          const sentAt = performance.now();
          await notified.grant('http');
          if (await until(() => hook.received.length > before)) latencies.push(hook.received[before]!.at - sentAt);
          else lost++;
        }
      });
      const plainWindow = await baseline.window('plain', async () => {
        for (let i = 0; i < n; i++) await plain.grant('http');
      });
      const duplicates = hook.received.length - new Set(hook.ids()).size;

      const scenario = `notifications (${n} requests, one webhook sink)`;
      return [
        figure(scenario, 'request to webhook p50', percentile(latencies, 50), 'ms'),
        figure(scenario, 'request to webhook p99', percentile(latencies, 99), 'ms', atMost(250)),
        figure(scenario, 'broker CPU per request, with sink', timed.cpuMicros / n, 'µs'),
        figure(scenario, 'broker CPU per request, no sink', plainWindow.cpuMicros / n, 'µs'),
        figure(scenario, 'outbox and delivery CPU per event', (timed.cpuMicros - plainWindow.cpuMicros) / n, 'µs'),
        figure(scenario, 'deliveries lost', lost, 'deliveries', atMost(0)),
        figure(scenario, 'deliveries repeated', duplicates, 'deliveries', atMost(0)),
      ];
    } finally {
      await hook.close();
    }
  },
};

/** Polls `done` until it holds or ARRIVAL_TIMEOUT_MS passed; whether it held. */
async function until(done: () => boolean): Promise<boolean> {
  for (const giveUp = performance.now() + ARRIVAL_TIMEOUT_MS; !done(); ) {
    if (performance.now() > giveUp) return false;
    await sleep(1);
  }
  return true;
}
