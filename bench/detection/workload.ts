/**
 * The detection evaluation end to end (issue 17, point 6): plan the workload, run it
 * through a real broker (its clock moved by the replay, so weeks pass in a minute) with
 * the detector on, follow the alerts as a SIEM would, then score them against the labels
 * read back with the audit log.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent, AuditLog } from '../../server/audit/types.js';
import type { RuleId } from '../../server/detection/types.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { pooled } from '../pool.js';
import { followAlerts } from './alert-feed.js';
import { catchUpCpuPerEvent } from './catch-up-cpu.js';
import type { SeenAlert } from './alert-feed.js';
import { signInPerson, startWorkloadBroker } from './deployment.js';
import { startWorkloadUpstream } from './upstream.js';
import type { SignedIn } from './deployment.js';
import { answerKey, Replay } from './driver.js';
import type { ReplayResult } from './driver.js';
import { planWorkload } from './plan.js';
import type { Plan, PlanOptions } from './plan.js';
import { score } from './scoring.js';
import type { Alert, Score } from './scoring.js';
import { DAY } from './traffic.js';

export interface WorkloadOptions extends Omit<PlanOptions, 'start'> {
  /** The config's `detection` section (defaults: the shipped ones). */
  detection?: Record<string, unknown>;
  progress?: (message: string) => void;
  /** Also measure the detector's CPU on this log alone (catch-up-cpu.ts): the bench does, the test need not. */
  measureCatchUp?: boolean;
}

export interface WorkloadResult {
  plan: Plan;
  replay: ReplayResult;
  auditEvents: number;
  alerts: Alert[];
  /** anomaly.detected events in the log that the feed did not deliver. */
  notSeenOnFeed: number;
  score: Score;
  /** The detector's own count of events it read and the time it spent evaluating them; null when the broker has no detector. */
  detector: {
    events: number;
    /** Wall time of live evaluation per event, in the broker's process (its work and garbage land in it too). */
    liveMicrosPerEvent: number;
    /** Process CPU per event of the same log judged alone (measureCatchUp), or null. */
    catchUpCpuMicrosPerEvent: number | null;
  } | null;
}

/** How long the log and the detector must be still before the run counts as settled. */
const SETTLE_MS = 1_000;

/** The first Monday, 00:00 UTC, after `now`. */
export function nextMonday(now: number): number {
  const midnight = Math.floor(now / DAY) * DAY + DAY;
  // 1970-01-01 was a Thursday: day 4 after a Monday.
  return midnight + ((7 - ((Math.floor(midnight / DAY) + 3) % 7)) % 7) * DAY;
}

export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const progress = options.progress ?? (() => {});
  const clock = new ManualClock();
  const plan = planWorkload({ ...options, start: nextMonday(clock.now() + DAY) });
  progress(`${plan.people.length} people, ${plan.period.days} days, ${plan.actions.length} actions, ${plan.labels.length} labels`);
  const upstream = await startWorkloadUpstream();
  const broker = await startWorkloadBroker(upstream, clock, options.detection ?? {});
  const { server, idp } = broker;
  try {
    // Signed in before the clock moves: the test IdP's assertions carry the real time.
    const people = new Map<string, SignedIn>(await pooled(plan.people.length, 4, async (i) => {
      const person = plan.people[i]!;
      return [person.email, await signInPerson(server, idp, clock, person.email, [person.role.group])] as const;
    }));
    for (const grant of plan.grants) await people.get(grant.user)!.grant(grant.server, grant.until);
    const auditor = await signInPerson(server, idp, clock, 'auditor@example.com', ['security'], ['audit:read']);
    const feed = await followAlerts(server.wsUrl, auditor.token, (error) => progress(`alert feed failed: ${JSON.stringify(error)}`));
    clock.advance(plan.period.start - clock.now());

    let day = -1;
    const replay = await new Replay({ wsUrl: server.wsUrl, clock, people }).run(plan.actions, (at) => {
      const today = Math.floor((at - plan.period.start) / DAY);
      if (today !== day && (day = today) % 7 === 0) progress(`simulated day ${today}, ${feed.alerts.length} alerts so far`);
    });
    progress(`replayed ${replay.calls} calls in ${replay.seconds.toFixed(1)} s; waiting for the detector to settle`);
    const { detector } = server;
    await settle(server.stores.audit, () => detector?.stats.events ?? feed.alerts.length);
    await feed.close();

    const log = await readAll(server.stores.audit);
    const catchUp = detector && options.measureCatchUp ? await catchUpCpuPerEvent(log, server.stores.access, broker.config) : null;
    const alerts = alertsOf(log, feed.alerts, replay);
    const seen = new Set(feed.alerts.map((s) => s.id));
    const notSeenOnFeed = log.filter((e) => e.type === 'anomaly.detected' && !seen.has(e.id)).length;
    return { plan, replay, auditEvents: log.length, alerts, notSeenOnFeed, score: score(plan.labels, alerts), detector: detector && { events: detector.stats.events, liveMicrosPerEvent: (detector.stats.evaluationMs * 1000) / detector.stats.events, catchUpCpuMicrosPerEvent: catchUp } };
  } finally {
    await broker.close();
    await upstream.close();
  }
}

/** Waits until neither the log nor the detector's progress (events it read) have moved for SETTLE_MS: it has judged everything. */
async function settle(audit: AuditLog, progress: () => number): Promise<void> {
  let last = '';
  for (;;) {
    const head = `${await audit.headHash()}|${progress()}`;
    if (head === last) return;
    last = head;
    await sleep(SETTLE_MS);
  }
}

async function readAll(audit: AuditLog): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (let page = await audit.read({ limit: 5000 }); page.length > 0; page = await audit.read({ after: page.at(-1)!.id, limit: 5000 })) events.push(...page);
  return events;
}

/** Each `anomaly.detected` of the log as an alert: its triggering event's user, time, and the wall time from that call's answer to the alert on the feed. */
function alertsOf(log: readonly AuditEvent[], seen: readonly SeenAlert[], replay: ReplayResult): Alert[] {
  const byId = new Map(log.map((e) => [e.id, e]));
  const seenAt = new Map(seen.map((s) => [s.id, s.seenAt]));
  return log
    .filter((e) => e.type === 'anomaly.detected')
    .map((e) => {
      const data = e.data as { rule: RuleId; user: string; eventIds: string[]; summary: string };
      const trigger = byId.get(data.eventIds.at(-1) ?? '');
      const at = trigger ? Date.parse(trigger.time) : Date.parse(e.time);
      const id = trigger?.type === 'mcp.session.refused' || trigger?.type === 'mcp.session.start' ? 'open' : (trigger?.data.id as string | number | undefined);
      const answered = trigger && id !== undefined ? replay.answeredAt.get(answerKey(data.user, trigger.server ?? '', at, id)) : undefined;
      const alerted = seenAt.get(e.id);
      return { rule: data.rule, user: data.user, at, latencyMs: answered === undefined || alerted === undefined ? null : alerted - answered, summary: data.summary };
    });
}
