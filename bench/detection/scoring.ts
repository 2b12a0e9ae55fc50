/**
 * Scoring the detector against the workload's labels: each alert (an `anomaly.detected`)
 * is matched by user, rule and time to the labels; per rule precision and recall, and the
 * alerts a benign look-alike drew.
 */
import { RULE_IDS } from '../../server/detection/types.js';
import type { RuleId } from '../../server/detection/types.js';

/** A stretch of one person's (or, with `*`, everyone's) activity the generator made on purpose. */
export interface Label {
  name: string;
  /** An incident must be detected by each of `rules`; a look-alike must not be by any. */
  kind: 'incident' | 'lookalike';
  user: string;
  /** Incident: the rules that must fire. Look-alike: the rules it resembles (for the report). */
  rules: readonly RuleId[];
  /** Incident: other rules that may fire on the same activity without it being a false alarm. */
  tolerated: readonly RuleId[];
  /** Simulated ms, inclusive. */
  from: number;
  to: number;
}

export interface Alert {
  rule: RuleId;
  user: string;
  /** Simulated time of the event that triggered it. */
  at: number;
  /** Wall ms (performance.now) from the triggering call's answer to the alert on the feed; null when either is unknown. */
  latencyMs: number | null;
  /** The detection's own explanation. */
  summary: string;
}

export interface RuleScore {
  rule: RuleId;
  /** Alerts matching an incident labelled with the rule. */
  truePositives: number;
  /** Alerts matching nothing the rule was expected or allowed to fire on. */
  falsePositives: number;
  /** Alerts on an incident of another rule that tolerates this one: counted neither way. */
  tolerated: number;
  incidents: number;
  detected: number;
  precision: number;
  recall: number;
}

export interface Score {
  rules: RuleScore[];
  /** Incidents and the rule of theirs that no alert matched. */
  missed: { label: Label; rule: RuleId }[];
  /** False alarms inside a look-alike's stretch, and the rest. */
  falseAlarms: { alert: Alert; lookalike: string | null }[];
  /** Per true alert: call answered to alert seen, wall ms. */
  latenciesMs: number[];
}

/** How long after a labelled stretch an alert still belongs to it (a rule may fire on the stretch's last events, judged a little later). */
export const MATCH_SLACK_MS = 15 * 60_000;

const covers = (label: Label, alert: Alert) => (label.user === '*' || label.user === alert.user) && alert.at >= label.from && alert.at <= label.to + MATCH_SLACK_MS;

export function score(labels: readonly Label[], alerts: readonly Alert[]): Score {
  const incidents = labels.filter((l) => l.kind === 'incident');
  const lookalikes = labels.filter((l) => l.kind === 'lookalike');
  /** Which rules detected which incidents. */
  const detected = new Map<Label, Set<RuleId>>(incidents.map((l) => [l, new Set()]));
  const counts = new Map(RULE_IDS.map((rule) => [rule, { truePositives: 0, falsePositives: 0, tolerated: 0 }]));
  const falseAlarms: Score['falseAlarms'] = [];
  const latenciesMs: number[] = [];
  for (const alert of alerts) {
    const count = counts.get(alert.rule)!;
    const hits = incidents.filter((l) => covers(l, alert) && l.rules.includes(alert.rule));
    if (hits.length > 0) {
      count.truePositives++;
      hits.forEach((l) => detected.get(l)!.add(alert.rule));
      if (alert.latencyMs !== null) latenciesMs.push(alert.latencyMs);
    } else if (incidents.some((l) => covers(l, alert) && l.tolerated.includes(alert.rule))) {
      count.tolerated++;
    } else {
      count.falsePositives++;
      falseAlarms.push({ alert, lookalike: lookalikes.find((l) => covers(l, alert))?.name ?? null });
    }
  }
  const rules = RULE_IDS.map((rule) => {
    const { truePositives, falsePositives, tolerated } = counts.get(rule)!;
    const labelled = incidents.filter((l) => l.rules.includes(rule));
    const found = labelled.filter((l) => detected.get(l)!.has(rule)).length;
    return {
      rule,
      truePositives,
      falsePositives,
      tolerated,
      incidents: labelled.length,
      detected: found,
      // No alert at all: nothing was wrongly raised (1); no incident: nothing to find (1).
      precision: truePositives + falsePositives === 0 ? 1 : truePositives / (truePositives + falsePositives),
      recall: labelled.length === 0 ? 1 : found / labelled.length,
    };
  });
  const missed = incidents.flatMap((label) => label.rules.filter((rule) => !detected.get(label)!.has(rule)).map((rule) => ({ label, rule })));
  return { rules, missed, falseAlarms, latenciesMs };
}
