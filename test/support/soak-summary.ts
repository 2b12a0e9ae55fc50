import type { AuditFindings } from './soak-audit.js';
import type { SoakRun } from './soak-load.js';

export interface SoakSummary {
  calls: { total: number; answered: number; refused: Record<string, number>; hung: number };
  sessions: { opened: Record<string, number>; refused: Record<string, number>; hung: number };
  /** Answered calls, client side, through the load balancer (ms). */
  latencyMs: { p50: number; p99: number; max: number };
  audit: { events: number; verify: string; problems: string[] };
  revocations: { acknowledged: number; callsAllowedAfterAnswer: number; maxLagMs: number };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100;
}

export function summarize(run: SoakRun, findings: AuditFindings): SoakSummary {
  const answered = run.calls.filter((c) => c.outcome === 'answered');
  const latencies = answered.map((c) => c.settledAt - c.sentAt).sort((a, b) => a - b);
  return {
    calls: {
      total: run.calls.length,
      answered: answered.length,
      refused: countBy(
        run.calls.filter((c) => c.outcome === 'refused'),
        (c) => c.reason,
      ),
      hung: run.calls.filter((c) => c.outcome === 'hung').length,
    },
    sessions: {
      opened: countBy(
        run.openings.filter((o) => o.outcome === 'opened'),
        (o) => o.transport,
      ),
      refused: countBy(
        run.openings.filter((o) => o.outcome === 'refused'),
        (o) => `${o.transport}: ${o.reason}`,
      ),
      hung: run.openings.filter((o) => o.outcome === 'hung').length,
    },
    latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: quantile(latencies, 1) },
    audit: { events: findings.events, verify: findings.verify.output, problems: findings.problems },
    revocations: { acknowledged: run.acknowledged.revocations.length, callsAllowedAfterAnswer: findings.allowedAfterRevocation.length, maxLagMs: Math.round(Math.max(0, ...findings.allowedAfterRevocation)) },
  };
}
