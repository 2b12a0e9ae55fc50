import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { signInPerson } from '../deployment.js';
import type { UpstreamName } from '../deployment.js';
import { brokered, closeAll, directHttp, directStdio, echo } from '../mcp-clients.js';
import { atMost, figure } from '../report.js';
import type { Figure } from '../report.js';
import type { BrokerProcess } from '../processes.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';

const CALLS = 20_000;
const WARMUP = 2_000;
/** Direct and brokered calls alternate in blocks of this many, so drift on the machine hits both alike. */
const BLOCK = 500;

/** Sequential tools/call of the trivial tool, one session, direct and through the broker's WebSocket. */
export const latency: Scenario = {
  name: 'latency',
  async run(ctx) {
    const broker = await ctx.startBroker();
    const alice = await signInPerson(broker, ctx.env.idp, 'alice', ['engineering']);
    const token = await alice.token(['mcp']);
    const figures: Figure[] = [];
    for (const upstream of ['http', 'stdio'] as const satisfies UpstreamName[]) {
      await alice.grant(upstream);
      const direct = upstream === 'http' ? await directHttp(ctx.env.httpUpstream.url) : await directStdio();
      const relayed = await brokered(broker.wsUrl, upstream, token);
      ctx.progress(`latency over ${upstream}: ${ctx.size(CALLS)} calls each way`);
      const measured = await compareCalls(broker, upstream, direct, relayed, ctx.size(CALLS), ctx.size(WARMUP));
      // The budget is the stdio upstream's (issue 22). Over http the direct client is the SDK's Streamable HTTP
      // client and the brokered one a WebSocket, which costs less: "added" there compares two clients, not the broker.
      figures.push(...latencyFigures(`latency (${upstream} upstream)`, measured, upstream === 'stdio' ? { p50: 0.15, p99: 1 } : null));
    }
    return figures;
  },
};

export interface CallTimes {
  directMs: number[];
  brokeredMs: number[];
  cpuMicros: number;
  systemMicros: number;
}

/**
 * Sequential calls both ways after a warm-up, in alternating blocks so drift on the machine
 * hits both alike; the broker idles while the direct blocks run, so its CPU over the window
 * is the brokered calls'. Both clients are closed afterwards.
 */
export async function compareCalls(broker: BrokerProcess, window: string, direct: Client, relayed: Client, calls: number, warmup: number): Promise<CallTimes> {
  await timeCalls(direct, warmup);
  await timeCalls(relayed, warmup);
  const directMs: number[] = [];
  const brokeredMs: number[] = [];
  const { cpuMicros, systemMicros } = await broker.window(window, async () => {
    for (let done = 0; done < calls; done += BLOCK) {
      directMs.push(...(await timeCalls(direct, BLOCK)));
      brokeredMs.push(...(await timeCalls(relayed, BLOCK)));
    }
  });
  await closeAll([direct, relayed]);
  return { directMs, brokeredMs, cpuMicros, systemMicros };
}

/** Percentiles both ways, what the broker adds (against its budget, in ms, where it has one) and its CPU per call. */
export function latencyFigures(scenario: string, { directMs, brokeredMs, cpuMicros, systemMicros }: CallTimes, budget: { p50: number; p99: number } | null): Figure[] {
  const [d50, d99, b50, b99] = [percentile(directMs, 50), percentile(directMs, 99), percentile(brokeredMs, 50), percentile(brokeredMs, 99)];
  return [
    figure(scenario, 'direct p50', d50, 'ms'),
    figure(scenario, 'direct p99', d99, 'ms'),
    figure(scenario, 'brokered p50', b50, 'ms'),
    figure(scenario, 'brokered p99', b99, 'ms'),
    figure(scenario, 'added p50', b50 - d50, 'ms', budget ? atMost(budget.p50) : undefined),
    figure(scenario, 'added p99', b99 - d99, 'ms', budget ? atMost(budget.p99) : undefined),
    figure(scenario, 'broker CPU per call', cpuMicros / brokeredMs.length, 'µs'),
    figure(scenario, 'of which in the kernel', systemMicros / brokeredMs.length, 'µs'),
  ];
}

export function timeCalls(client: Client, count: number): Promise<number[]> {
  return timeEach(count, () => echo(client, 'ping'));
}

/** `count` sequential runs of `call`, each timed in ms. */
export async function timeEach(count: number, call: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await call();
    samples.push(performance.now() - start);
  }
  return samples;
}
