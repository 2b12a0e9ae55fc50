/**
 * What Redis did while something ran, from INFO: commands by name and in all, CPU and
 * memory, less a broker's background rate; and those counts per unit as bench figures.
 */
import type { Redis } from 'ioredis';
import { infoCpuMicros, infoNumber } from './cpu-meter.js';
import { figure } from './report.js';
import type { Figure } from './report.js';

/** Commands below this many per unit are left out of the by-name breakdown. */
const SHOWN_FROM = 0.01;

/** Redis's counters at one moment: commands by name (INFO commandstats) and all commands (total_commands_processed), both counting the commands a script runs besides its EVALSHA; CPU and memory. */
interface RedisCounters {
  at: number;
  total: number;
  cpuMicros: number;
  usedMemory: number;
  commands: Map<string, number>;
}

/** What Redis did between two readings; `commands` and `total` leave out the INFO commands the meter itself sends. */
export type RedisDelta = Omit<RedisCounters, 'at'> & { seconds: number };

async function readRedis(redis: Redis): Promise<RedisCounters> {
  const info = await redis.info('everything');
  const commands = new Map<string, number>();
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) commands.set(name!, Number(calls));
  return { at: performance.now(), total: infoNumber(info, 'total_commands_processed') - (commands.get('info') ?? 0), cpuMicros: infoCpuMicros(info), usedMemory: infoNumber(info, 'used_memory'), commands };
}

function between(before: RedisCounters, after: RedisCounters): RedisDelta {
  const commands = new Map<string, number>();
  for (const [name, calls] of after.commands) {
    const ran = calls - (before.commands.get(name) ?? 0);
    if (ran > 0 && name !== 'info') commands.set(name, ran);
  }
  return { seconds: (after.at - before.at) / 1000, total: after.total - before.total, cpuMicros: after.cpuMicros - before.cpuMicros, usedMemory: after.usedMemory - before.usedMemory, commands };
}

/** Redis's work while `run` runs, less what the broker does in the background over as long (measured idle, as a rate per second). */
export async function metered<T>(redis: Redis, background: RedisDelta | null, run: () => Promise<T>): Promise<{ result: T; delta: RedisDelta }> {
  const before = await readRedis(redis);
  const result = await run();
  const delta = between(before, await readRedis(redis));
  if (background) {
    const share = delta.seconds / background.seconds;
    delta.total -= background.total * share;
    for (const [name, calls] of background.commands) delta.commands.set(name, (delta.commands.get(name) ?? 0) - calls * share);
  }
  return { result, delta };
}

/** The delta per unit (a call, a session, a second): all commands, then each command by name, busiest first. */
export function perUnit(scenario: string, unit: string, delta: RedisDelta, count: number): Figure[] {
  const byName = [...delta.commands].map(([name, calls]) => [name, calls / count] as const).filter(([, n]) => n >= SHOWN_FROM).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return [
    figure(scenario, `Redis commands per ${unit} (total_commands_processed)`, delta.total / count, 'commands'),
    ...byName.map(([name, n]) => figure(scenario, `${name.toUpperCase()} per ${unit}`, n, 'commands')),
  ];
}
