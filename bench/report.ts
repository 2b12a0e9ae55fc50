import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';

/** A budget from DESIGN.md "Performance budgets": the figure must be at most / at least `limit`. */
export interface Budget {
  op: '<=' | '>=';
  limit: number;
}

export interface Figure {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  /** "<= 0.15", or null for a figure reported for context only. */
  budget: string | null;
  pass: boolean | null;
}

export function figure(scenario: string, metric: string, value: number, unit: string, budget?: Budget): Figure {
  const rounded = Number(value.toPrecision(4));
  if (!budget) return { scenario, metric, value: rounded, unit, budget: null, pass: null };
  const pass = budget.op === '<=' ? value <= budget.limit : value >= budget.limit;
  return { scenario, metric, value: rounded, unit, budget: `${budget.op} ${budget.limit}`, pass };
}

export const atMost = (limit: number): Budget => ({ op: '<=', limit });
export const atLeast = (limit: number): Budget => ({ op: '>=', limit });

export interface Machine {
  cores: number;
  cpu: string;
  memoryBytes: number;
  node: string;
  redis: string;
  os: string;
  /** At the start of the run: anything else busy on the machine skews every figure. */
  loadAverage1m: number;
}

export function machine(): Machine {
  const redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    redis,
    os: `${platform()} ${release()}`,
    loadAverage1m: loadavg()[0]!,
  };
}

export function writeResults(path: string, run: { machine: Machine; startedAt: string; quick: boolean; results: Figure[] }): void {
  writeFileSync(path, `${JSON.stringify(run, null, 2)}\n`);
}

/** The results as an aligned text table, one figure a line. */
export function table(figures: readonly Figure[]): string {
  const header = ['scenario', 'metric', 'value', 'unit', 'budget', 'pass'];
  const rows = figures.map((f) => [f.scenario, f.metric, String(f.value), f.unit, f.budget ?? '', f.pass === null ? '' : f.pass ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}
