import { Redis } from 'ioredis';
import type { BrokerProcess } from './processes.js';
import { figure } from './report.js';
import type { Figure } from './report.js';
import { processCpuMicros, runQueueWaitMicros } from './processes.js';

/** Microseconds, per process, read at one moment. */
export type CpuSnapshot = Record<'upstream' | 'load' | 'redis' | 'brokerWaiting', number>;

/**
 * Where the rest of the machine's cores go during a timed window (the broker's own CPU
 * comes from its window): CPU time of the HTTP upstream (from /proc), this process (the
 * load generator) and Redis (INFO cpu), and how long the broker sat runnable waiting for
 * a core. On a 2-core machine this tells a broker-bound run from a saturated machine.
 */
class CpuMeter {
  private readonly redis: Redis;

  constructor(
    private readonly broker: BrokerProcess,
    private readonly upstreamPid: number,
    redisUrl: string,
  ) {
    this.redis = new Redis(redisUrl);
  }

  async snapshot(): Promise<CpuSnapshot> {
    const load = process.cpuUsage();
    return {
      upstream: processCpuMicros(this.upstreamPid),
      load: load.user + load.system,
      redis: await redisCpuMicros(this.redis),
      brokerWaiting: runQueueWaitMicros(this.broker.pid),
    };
  }

  /** What each process used (or, for the broker, waited) while `run` runs. */
  async during<T>(run: () => Promise<T>): Promise<{ result: T; cpu: CpuSnapshot }> {
    const before = await this.snapshot();
    const result = await run();
    const after = await this.snapshot();
    const cpu = { upstream: 0, load: 0, redis: 0, brokerWaiting: 0 };
    for (const key of Object.keys(cpu) as (keyof CpuSnapshot)[]) cpu[key] = after[key] - before[key];
    return { result, cpu };
  }

  close(): void {
    this.redis.disconnect();
  }
}

/**
 * Runs `load` as the broker's timed window (profiled with --cpu-prof) with the rest of the
 * machine metered: the load's result, the broker's CPU time (and its kernel part) and
 * every other process's share.
 */
export async function meteredWindow<T>(
  broker: BrokerProcess,
  env: { httpUpstream: { pid: number }; redisUrl: string },
  name: string,
  load: () => Promise<T>,
): Promise<{ result: T; cpu: CpuSnapshot; cpuMicros: number; systemMicros: number }> {
  const meter = new CpuMeter(broker, env.httpUpstream.pid, env.redisUrl);
  try {
    const { result: metered, cpuMicros, systemMicros } = await broker.window(name, () => meter.during(load));
    return { result: metered.result, cpu: metered.cpu, cpuMicros, systemMicros };
  } finally {
    meter.close();
  }
}

/** One numeric field of an INFO reply (0 when absent). */
export const infoNumber = (info: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);

/** Redis's CPU time in an INFO reply that has the cpu section (user plus system). */
export const infoCpuMicros = (info: string) => (infoNumber(info, 'used_cpu_user') + infoNumber(info, 'used_cpu_sys')) * 1e6;

/** Redis's CPU time so far (user plus system, from INFO cpu). */
export async function redisCpuMicros(redis: Redis): Promise<number> {
  return infoCpuMicros(await redis.info('cpu'));
}

/** The window's CPU use as figures, in % of one core over the window's wall time. */
export function cpuFigures(scenario: string, seconds: number, brokerCpuMicros: number, cpu: CpuSnapshot): Figure[] {
  const share = (micros: number) => (micros / (seconds * 1e6)) * 100;
  return [
    figure(scenario, 'CPU broker', share(brokerCpuMicros), '% of a core'),
    figure(scenario, 'broker runnable, waiting for a core', share(cpu.brokerWaiting), '% of the time'),
    figure(scenario, 'CPU upstream', share(cpu.upstream), '% of a core'),
    figure(scenario, 'CPU load generator', share(cpu.load), '% of a core'),
    figure(scenario, 'CPU redis', share(cpu.redis), '% of a core'),
  ];
}
