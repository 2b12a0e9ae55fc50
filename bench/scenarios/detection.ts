import { RULE_IDS } from '../../server/detection/types.js';
import { runWorkload } from '../detection/workload.js';
import type { WorkloadOptions, WorkloadResult } from '../detection/workload.js';
import { atLeast, atMost, figure } from '../report.js';
import type { Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';

/** Three weeks of history and an evaluation week: every rule's baseline (rate spike's two weeks, off-hours' fourteen days) is there before the incidents. */
const FULL: Omit<WorkloadOptions, 'progress'> = { seed: 17, people: 20, historyDays: 21, evalDays: 7, rounds: 3 };
/** The smallest run in which every rule can judge: two weeks and a day of history, one evaluation day. */
const QUICK: Omit<WorkloadOptions, 'progress'> = { seed: 17, people: 8, historyDays: 15, evalDays: 1, rounds: 1 };

const SCENARIO = 'detection';

/**
 * The outlier detector's evaluation (issue 17, point 6): simulated weeks of many people's
 * traffic through an in-process broker (its clock moved by the replay) with labelled
 * incidents and benign look-alikes in the last days (bench/detection/). Per rule precision
 * and recall over every alert of the run, the time from the triggering call's answer to
 * the alert on an auditor's `auditEvents` subscription, and the detector's CPU per event.
 */
export const detection: Scenario = {
  name: SCENARIO,
  async run(ctx) {
    const result = await runWorkload({ ...(ctx.quick ? QUICK : FULL), progress: ctx.progress, measureCatchUp: true });
    for (const { label, rule } of result.score.missed) ctx.progress(`missed: ${label.name} (${label.user}) by ${rule}`);
    for (const { alert, lookalike } of result.score.falseAlarms) ctx.progress(`false alarm: ${alert.rule} on ${alert.user} at ${new Date(alert.at).toISOString()}${lookalike ? ` (look-alike: ${lookalike})` : ''}: ${alert.summary}`);
    return figuresOf(result);
  },
};

function figuresOf(result: WorkloadResult): Figure[] {
  const { plan, replay, score } = result;
  const perRule = RULE_IDS.flatMap((rule) => {
    const s = score.rules.find((r) => r.rule === rule)!;
    const scenario = `${SCENARIO}: ${rule}`;
    return [
      figure(scenario, `precision (${s.truePositives} true, ${s.falsePositives} false alerts)`, s.precision, 'ratio', atLeast(0.9)),
      figure(scenario, `recall (${s.detected} of ${s.incidents} incidents)`, s.recall, 'ratio', atLeast(0.9)),
    ];
  });
  const detector = result.detector;
  return [
    figure(SCENARIO, `simulated days (${plan.people.length} people)`, plan.period.days, 'days'),
    figure(SCENARIO, 'calls replayed through the broker', replay.calls, 'calls'),
    figure(SCENARIO, 'replay wall time', replay.seconds, 's'),
    figure(SCENARIO, 'audit events', result.auditEvents, 'events'),
    ...perRule,
    figure(SCENARIO, 'false alarms on benign look-alikes', score.falseAlarms.filter((f) => f.lookalike !== null).length, 'alerts', atMost(0)),
    figure(SCENARIO, 'call answered to alert on the feed p50', percentile(score.latenciesMs, 50), 'ms'),
    figure(SCENARIO, 'call answered to alert on the feed p99', percentile(score.latenciesMs, 99), 'ms', atMost(1000)),
    figure(SCENARIO, 'alerts in the log not delivered by the feed', result.notSeenOnFeed, 'alerts', atMost(0)),
    ...(detector
      ? [
          figure(SCENARIO, `live evaluation wall time per event, in the broker's process (${detector.events} events)`, detector.liveMicrosPerEvent, 'µs'),
          ...(detector.catchUpCpuMicrosPerEvent === null ? [] : [figure(SCENARIO, 'detector CPU per event (this log judged alone, catch-up)', detector.catchUpCpuMicrosPerEvent, 'µs', atMost(20))]),
        ]
      : []),
  ];
}
