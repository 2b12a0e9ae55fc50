import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { cpuFigures, meteredWindow } from '../cpu-meter.js';
import { engineerWithGrant, signInPerson } from '../deployment.js';
import { closedLoop } from '../load.js';
import { brokered, closeAll, echo } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import { atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';
import { CONNECT_CONCURRENCY, IN_FLIGHT, SECONDS, SESSIONS, WARMUP_SECONDS } from './throughput.js';

const SCENARIO = 'audit (auditEvents subscriber under the throughput load)';
const FEED = 'subscription { auditEvents(filter: { types: ["mcp.request"] }) { time data } }';
/** How long events still on their way after the load stops may take before they count as lost. */
const DRAIN_MS = 5_000;

/**
 * An auditor follows `auditEvents` over graphql-ws while the throughput load runs. Two
 * clocks start the measure. The action is the broker acting on a call, which the event's
 * own `time` records (the broker's wall clock, whole milliseconds, truncated, so the
 * figure errs high by under 1 ms): the budget applies to that. The client sending the call
 * is also timed (each call carries a unique tag, echo's message, which the event's params
 * keep): that adds the time the call queued before the broker took it up, which at a
 * saturated machine's 256 calls in flight is most of it.
 */
export const auditLatency: Scenario = {
  name: 'audit',
  async run(ctx) {
    const { env } = ctx;
    const broker = await ctx.startBroker();
    const { token } = await engineerWithGrant(broker, env.idp, 'alice', 'http');
    const auditorToken = await (await signInPerson(broker, env.idp, 'carol', ['security'])).token(['audit:read']);
    const sessions = await pooled(SESSIONS, CONNECT_CONCURRENCY, () => brokered(broker.wsUrl, 'http', token));

    const sent = new Map<string, number>();
    const fromSend: number[] = [];
    const fromAction: number[] = [];
    let feedLive = false;
    const feed = createClient({ url: `${broker.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${auditorToken}` } });
    const unsubscribe = feed.subscribe<{ auditEvents: { time: string; data: { params?: { arguments?: { message?: string } } } } }>(
      { query: FEED },
      {
        next: ({ data }) => {
          const received = performance.now();
          feedLive = true;
          const tag = data?.auditEvents.data.params?.arguments?.message;
          const at = tag === undefined ? undefined : sent.get(tag);
          if (at === undefined) return;
          sent.delete(tag!);
          fromSend.push(received - at);
          fromAction.push(performance.timeOrigin + received - Date.parse(data!.auditEvents.time));
        },
        error: (error) => ctx.progress(`audit feed failed: ${JSON.stringify(error)}`),
        complete: () => {},
      },
    );
    // The feed starts at "now", once subscribed: call until it sees a call, then time.
    for (const giveUp = performance.now() + 10_000; !feedLive; await sleep(50)) {
      if (performance.now() > giveUp) throw new Error('the audit feed delivered nothing within 10 s');
      await echo(sessions[0]!, 'warm');
    }

    ctx.progress(`${SESSIONS} sessions x ${IN_FLIGHT} in flight, ${ctx.size(SECONDS)} s, with a subscriber`);
    await closedLoop(sessions, IN_FLIGHT, ctx.size(WARMUP_SECONDS));
    const { result: run, cpu, cpuMicros } = await meteredWindow(broker, env, 'load', () =>
      closedLoop(sessions, IN_FLIGHT, ctx.size(SECONDS), (tag) => sent.set(tag, performance.now())),
    );
    const drainUntil = performance.now() + DRAIN_MS;
    while (sent.size > 0 && performance.now() < drainUntil) await sleep(20);
    const lost = sent.size;
    unsubscribe();
    await feed.dispose();
    await closeAll(sessions);

    return [
      figure(SCENARIO, 'calls/s with subscriber', run.callsPerSecond, 'calls/s'),
      figure(SCENARIO, 'broker CPU per call', cpuMicros / run.calls, 'µs'),
      figure(SCENARIO, 'action to subscriber p50', percentile(fromAction, 50), 'ms'),
      figure(SCENARIO, 'action to subscriber p99', percentile(fromAction, 99), 'ms', atMost(25)),
      figure(SCENARIO, 'action to subscriber max', percentile(fromAction, 100), 'ms'),
      figure(SCENARIO, 'client send to subscriber p50', percentile(fromSend, 50), 'ms'),
      figure(SCENARIO, 'client send to subscriber p99', percentile(fromSend, 99), 'ms'),
      figure(SCENARIO, 'events not received', lost, 'events', atMost(0)),
      ...cpuFigures(SCENARIO, run.seconds, cpuMicros, cpu),
    ];
  },
};
