import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { engineerWithGrant } from '../deployment.js';
import { callLoop } from '../load.js';
import { pooled } from '../pool.js';
import type { BrokerProcess } from '../processes.js';
import { processCpuMicros } from '../processes.js';
import { openRawSession } from '../raw-clients.js';
import type { Endpoint, RawSession } from '../raw-clients.js';
import { figure } from '../report.js';
import type { Figure } from '../report.js';
import { metered, perUnit } from '../redis-meter.js';
import type { RedisDelta } from '../redis-meter.js';
import type { Scenario, ScenarioContext } from '../scenario.js';

/** Idle sessions opened per front door: the session-start, idle and memory figures. */
const SESSIONS = 1_000;
const CONNECT_CONCURRENCY = 16;
const WARMUP_CALLS = 200;
const SEQUENTIAL_CALLS = 2_000;
/** The loaded window: this many of the open sessions, each with IN_FLIGHT calls outstanding. */
const LOAD_SESSIONS = 16;
const IN_FLIGHT = 4;
const LOAD_SECONDS = 5;
/** Two of `broker.revalidateIntervalSeconds` (15 s by default): sessions opened together re-read their grants together, so a shorter window would see all of a round or none. */
const IDLE_SECONDS = 30;
/** Lets each session's upstream GET stream open before the heap is read (as in the memory scenario). */
const SETTLE_MS = 2_000;
/** A WebSocket session's end reaches the store seconds after the client sees the close (between 2 and 10 s here). */
const CLOSE_SETTLE_MS = 10_000;
interface Door {
  name: string;
  endpoint: Endpoint;
}

/**
 * Issue 21, point 6 (docs/scaling.md): what a relayed call, a session start and end, and
 * an idle second cost Redis, by command, on each front door (WebSocket `/mcp/ws`,
 * Streamable HTTP `/mcp`), with the broker's and Redis's CPU per call sequentially and
 * under load, and the broker's memory per idle session. Counts of operations and CPU per
 * call do not depend on how busy the machine is; calls per second do. The HTTP upstream
 * (one process for every session) keeps upstream processes out of the session counts.
 * Raw JSON-RPC clients in the runner (bench/raw-clients.ts) keep the load generator cheap.
 */
export const redisOps: Scenario = {
  name: 'redis-ops',
  async run(ctx) {
    const redis = new Redis(ctx.env.redisUrl);
    try {
      const broker = await ctx.startBroker();
      const { token } = await engineerWithGrant(broker, ctx.env.idp, 'alice', 'http');
      const headers = { authorization: `Bearer ${token}` };
      const doors: Door[] = [
        { name: 'WebSocket /mcp/ws', endpoint: { transport: 'ws', url: `${broker.wsUrl}/mcp/ws/http`, headers } },
        { name: 'Streamable HTTP /mcp', endpoint: { transport: 'http', url: `${broker.url}/mcp/http`, headers } },
      ];
      // Both doors' code paths warm before anything is read.
      for (const door of doors) {
        const session = await openRawSession(door.endpoint);
        for (let i = 0; i < WARMUP_CALLS; i++) await session.echo('warm');
        await session.close();
      }
      await sleep(SETTLE_MS);
      ctx.progress(`idle broker, no session: ${ctx.size(IDLE_SECONDS)} s`);
      const idle = (await metered(redis, null, () => sleep(ctx.size(IDLE_SECONDS) * 1000))).delta;
      const figures = perUnit('redis-ops: idle broker, no session', 'second', idle, idle.seconds);
      for (const door of doors) figures.push(...(await measureDoor(ctx, broker, redis, door, idle)));
      return figures;
    } finally {
      redis.disconnect();
    }
  },
};

async function measureDoor(ctx: ScenarioContext, broker: BrokerProcess, redis: Redis, door: Door, idle: RedisDelta): Promise<Figure[]> {
  const scenario = `redis-ops: ${door.name}`;
  const count = ctx.size(SESSIONS);
  const figures: Figure[] = [];

  ctx.progress(`${door.name}: ${count} session starts`);
  const memoryBefore = await broker.heap();
  const opened = await metered(redis, idle, () => pooled(count, CONNECT_CONCURRENCY, () => openRawSession(door.endpoint, IN_FLIGHT)));
  const sessions: RawSession[] = opened.result;
  figures.push(...perUnit(scenario, 'session start', opened.delta, count), figure(scenario, 'Redis memory per session', opened.delta.usedMemory / count, 'bytes'));
  await sleep(SETTLE_MS);
  const memoryAfter = await broker.heap();
  figures.push(
    figure(scenario, `broker heap per idle session (${count} sessions)`, (memoryAfter.heapUsed - memoryBefore.heapUsed) / count / 1024, 'KiB'),
    figure(scenario, `broker RSS per idle session (${count} sessions)`, (memoryAfter.rss - memoryBefore.rss) / count / 1024, 'KiB'),
  );

  ctx.progress(`${door.name}: idle with ${count} sessions open, ${ctx.size(IDLE_SECONDS)} s`);
  const busyIdle = (await metered(redis, null, () => sleep(ctx.size(IDLE_SECONDS) * 1000))).delta;
  figures.push(...perUnit(`${scenario}, ${count} sessions open and idle`, 'second', busyIdle, busyIdle.seconds));

  ctx.progress(`${door.name}: ${ctx.size(SEQUENTIAL_CALLS)} sequential calls`);
  const calls = ctx.size(SEQUENTIAL_CALLS);
  const sequential = await metered(redis, busyIdle, () =>
    broker.window(`redis-ops-sequential-${door.endpoint.transport}`, async () => {
      for (let i = 0; i < calls; i++) await sessions[0]!.echo('ping');
    }),
  );
  figures.push(
    ...perUnit(`${scenario}, sequential calls`, 'call', sequential.delta, calls),
    figure(`${scenario}, sequential calls`, 'Redis memory per call (audit log growth)', sequential.delta.usedMemory / calls, 'bytes'),
    figure(`${scenario}, sequential calls`, 'broker CPU per call', sequential.result.cpuMicros / calls, 'µs'),
    figure(`${scenario}, sequential calls`, 'Redis CPU per call', sequential.delta.cpuMicros / calls, 'µs'),
  );

  ctx.progress(`${door.name}: ${LOAD_SESSIONS} sessions x ${IN_FLIGHT} in flight, ${ctx.size(LOAD_SECONDS)} s`);
  const loaded = sessions.slice(0, LOAD_SESSIONS);
  const upstreamBefore = processCpuMicros(ctx.env.httpUpstream.pid);
  const loadBefore = process.cpuUsage();
  const load = await metered(redis, busyIdle, () => broker.window(`redis-ops-load-${door.endpoint.transport}`, () => callLoop(loaded, (s, tag) => s.echo(tag), IN_FLIGHT, ctx.size(LOAD_SECONDS))));
  const loadCpu = process.cpuUsage(loadBefore);
  const upstreamMicros = processCpuMicros(ctx.env.httpUpstream.pid) - upstreamBefore;
  const run = load.result.result;
  const underLoad = `${scenario}, ${LOAD_SESSIONS} sessions x ${IN_FLIGHT} in flight`;
  const share = (micros: number) => (micros / (run.seconds * 1e6)) * 100;
  figures.push(
    ...perUnit(underLoad, 'call', load.delta, run.calls),
    figure(underLoad, 'calls/s (this machine, everything on 2 cores)', run.callsPerSecond, 'calls/s'),
    figure(underLoad, 'broker CPU per call', load.result.cpuMicros / run.calls, 'µs'),
    figure(underLoad, 'Redis CPU per call', load.delta.cpuMicros / run.calls, 'µs'),
    figure(underLoad, 'upstream CPU per call', upstreamMicros / run.calls, 'µs'),
    figure(underLoad, 'CPU broker', share(load.result.cpuMicros), '% of a core'),
    figure(underLoad, 'CPU redis', share(load.delta.cpuMicros), '% of a core'),
    figure(underLoad, 'CPU upstream', share(upstreamMicros), '% of a core'),
    figure(underLoad, 'CPU load generator', share(loadCpu.user + loadCpu.system), '% of a core'),
  );

  ctx.progress(`${door.name}: ${count} session ends`);
  const closed = await metered(redis, idle, async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await sleep(CLOSE_SETTLE_MS);
  });
  figures.push(...perUnit(scenario, 'session end', closed.delta, count));
  return figures;
}
