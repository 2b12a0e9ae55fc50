/**
 * The whole workload, planned before anything runs: the people, every action in time
 * order, the grants they hold, and the labels (injected incidents and benign look-alikes).
 */
import { RULE_IDS } from '../../server/detection/types.js';
import { injectIncidents } from './incidents.js';
import { population } from './population.js';
import type { Persona } from './population.js';
import { Random } from './random.js';
import type { Label } from './scoring.js';
import { DAY, HOUR, isWorkday, localMidnight, MINUTE, ordinaryTraffic } from './traffic.js';
import type { Action, Period } from './traffic.js';

export interface PlanOptions {
  seed: number;
  /** At least 6: one per role, and the look-alikes' people. */
  people: number;
  /** Days of history before the evaluation days (the detector's baseline). */
  historyDays: number;
  evalDays: number;
  /** Incidents of each kind. */
  rounds: number;
  /** The period's first day (a Monday, 00:00 UTC). */
  start: number;
}

export interface Plan {
  period: Period;
  people: Persona[];
  /** In time order. */
  actions: Action[];
  /** Grants issued before the period starts: until when each person may use each server. */
  grants: { user: string; server: string; until: number }[];
  labels: Label[];
}

/** How much busier everyone is on the release day. */
const RELEASE_BUSY = 1.8;

export function planWorkload(options: PlanOptions): Plan {
  const { historyDays, evalDays } = options;
  const period: Period = { start: options.start, days: historyDays + evalDays };
  const end = period.start + period.days * DAY;
  const evalStartAt = period.start + historyDays * DAY;
  // The newcomer joins in the last history week: their warm-up runs into the evaluation days.
  const people = population(options.seed, options.people, Math.max(1, historyDays - 5));
  const random = new Random(options.seed + 1);
  const newcomer = people.at(-1)!;
  const farAway = people.at(-2)!;
  const [upgrader, lapsed] = people as [Persona, Persona];
  const releaseDay = [...Array(evalDays).keys()].map((i) => historyDays + i).filter(isWorkday).at(Math.min(2, evalDays - 1)) ?? historyDays;

  const labels: Label[] = [
    { name: 'new team member (joins in the last history week)', kind: 'lookalike', user: newcomer.email, rules: [...RULE_IDS], tolerated: [], from: period.start + newcomer.joinsDay * DAY, to: end },
    { name: 'a person in a far time zone (UTC+9)', kind: 'lookalike', user: farAway.email, rules: ['off_hours'], tolerated: [], from: period.start, to: end },
    { name: 'busy release day (everyone 1.8x)', kind: 'lookalike', user: '*', rules: ['rate_spike'], tolerated: [], from: period.start + releaseDay * DAY - 12 * HOUR, to: period.start + (releaseDay + 1) * DAY + 12 * HOUR },
    { name: 'client version upgrade', kind: 'lookalike', user: upgrader.email, rules: ['new_client'], tolerated: [], from: evalStartAt - DAY, to: end },
  ];
  const busy = (day: number) => (day === releaseDay ? RELEASE_BUSY : 1);
  let actions = people.flatMap((person) => ordinaryTraffic(random, person, period, busy));

  // The upgrader's client gets a new version from the evaluation days on (same name).
  const upgraded = { ...upgrader.clients[0]!, version: `${upgrader.clients[0]!.version}-1` };
  actions = actions.map((a) => (a.kind === 'call' && a.user === upgrader.email && a.at >= evalStartAt && a.client.name === upgraded.name ? { ...a, client: upgraded } : a));

  // The lapsed person's grant on their main server ends at the evaluation days' first local
  // midnight: their first two calls there are refused, then they ask again.
  const lapsedServer = lapsed.servers[0]!;
  const lapsedAt = localMidnight(period, lapsed, historyDays);
  const firstAfter = actions.find((a) => a.kind === 'call' && a.user === lapsed.email && a.server === lapsedServer && a.at >= lapsedAt);
  const grants = people.flatMap((person) => person.role.servers.map((server) => ({ user: person.email, server, until: person === lapsed && server === lapsedServer ? lapsedAt : end + DAY })));
  if (firstAfter?.kind === 'call') {
    const regrantAt = firstAfter.at + 3 * MINUTE;
    actions = actions.filter((a) => !(a.kind === 'call' && a.user === lapsed.email && a.server === lapsedServer && a.at >= lapsedAt && a.at < regrantAt));
    actions.push({ ...firstAfter }, { ...firstAfter, at: firstAfter.at + MINUTE }, { kind: 'grant', at: regrantAt, user: lapsed.email, server: lapsedServer, until: end + DAY });
    labels.push({ name: 'two refusals after a grant expired', kind: 'lookalike', user: lapsed.email, rules: ['probing'], tolerated: [], from: firstAfter.at, to: regrantAt });
  }

  const steadyExporter = people.find((p) => p.repertoire.some((t) => t.spec.name === 'export_table'));
  if (steadyExporter) labels.push({ name: 'a tool whose results are always large (daily table exports)', kind: 'lookalike', user: steadyExporter.email, rules: ['large_payload'], tolerated: [], from: period.start, to: end });

  // Not the lapsed person: until they ask again, an incident on that server would be refused, not detected.
  const incidents = injectIncidents(random, people, people.filter((p) => p !== newcomer && p !== farAway && p !== lapsed), period, historyDays, options.rounds);
  actions.push(...incidents.actions);
  labels.push(...incidents.labels);
  // Stable: at one instant, a person's actions keep the order they were planned in.
  actions.sort((a, b) => a.at - b.at);
  return { period, people, actions, grants, labels };
}
