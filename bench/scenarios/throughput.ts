import { cpuFigures, meteredWindow } from '../cpu-meter.js';
import { engineerWithGrant } from '../deployment.js';
import { closedLoop } from '../load.js';
import { brokered, closeAll, directHttp } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import { atLeast, atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';

export const SESSIONS = 64;
export const IN_FLIGHT = 4;
export const SECONDS = 10;
export const WARMUP_SECONDS = 2;
/** Connections opened at once while setting up sessions. */
export const CONNECT_CONCURRENCY = 16;

const SCENARIO = 'throughput (64 sessions x 4 in flight, http upstream)';

/**
 * Closed-loop load on the Streamable HTTP upstream (one upstream process serves every
 * session; a stdio upstream would be 64 processes on two cores), direct and then through
 * one broker on the Redis store, with the broker's CPU time per call.
 */
export const throughput: Scenario = {
  name: 'throughput',
  async run(ctx) {
    const { env } = ctx;
    const seconds = ctx.size(SECONDS);
    const warmup = ctx.size(WARMUP_SECONDS);

    ctx.progress(`direct: ${SESSIONS} sessions, ${seconds} s`);
    const direct = await pooled(SESSIONS, CONNECT_CONCURRENCY, () => directHttp(env.httpUpstream.url));
    await closedLoop(direct, IN_FLIGHT, warmup);
    const directRun = await closedLoop(direct, IN_FLIGHT, seconds);
    await closeAll(direct);

    ctx.progress(`brokered: ${SESSIONS} sessions, ${seconds} s`);
    const broker = await ctx.startBroker();
    const { token } = await engineerWithGrant(broker, env.idp, 'alice', 'http');
    const relayed = await pooled(SESSIONS, CONNECT_CONCURRENCY, () => brokered(broker.wsUrl, 'http', token));
    await closedLoop(relayed, IN_FLIGHT, warmup);
    const { result: brokeredRun, cpu, cpuMicros: brokerCpu, systemMicros } = await meteredWindow(broker, env, 'brokered', () => closedLoop(relayed, IN_FLIGHT, seconds));
    await closeAll(relayed);

    return [
      figure(SCENARIO, 'direct calls/s', directRun.callsPerSecond, 'calls/s'),
      figure(SCENARIO, 'brokered calls/s', brokeredRun.callsPerSecond, 'calls/s', atLeast(15_000)),
      figure(SCENARIO, 'brokered / direct', brokeredRun.callsPerSecond / directRun.callsPerSecond, 'ratio'),
      figure(SCENARIO, 'broker CPU per call', brokerCpu / brokeredRun.calls, 'µs', atMost(60)),
      figure(SCENARIO, 'of which in the kernel', systemMicros / brokeredRun.calls, 'µs'),
      ...cpuFigures(SCENARIO, brokeredRun.seconds, brokerCpu, cpu),
    ];
  },
};
