import type { DetectionRule, Observation, RuleContext } from '../types.js';
import { finding } from './finding.js';
import { eventIdsWith, rememberEvent } from './recent-events.js';
import { slotOf } from './slot.js';
import { DAY_MS, HOUR_MS, HOURS_PER_WEEK, hourOfWeek, weekHourText } from './time.js';

/** Calls further apart than this are separate stretches of activity. */
const STRETCH_GAP_MS = HOUR_MS;
/** Past this many calls counted, every count is halved: old habits fade, recent ones weigh. */
const MAX_TOTAL = 50_000;

interface OffHoursState {
  /** The first call counted: history is judged from here. */
  since: number;
  /** Calls per hour of week (UTC). */
  hours: number[];
  total: number;
  stretch: Stretch;
}

/** The calls made in hours this person is usually not active in, each within STRETCH_GAP_MS of the last. */
interface Stretch {
  first: number;
  last: number;
  count: number;
  ids: string[];
  /** The stretch's own calls per hour of week (`hour`, `count` pairs): not history to judge them by. */
  ownHours: number[];
  ownCounts: number[];
  flagged: boolean;
}

function stretch(at: number): Stretch {
  return { first: at, last: at, count: 0, ids: [], ownHours: [], ownCounts: [], flagged: false };
}

function offHoursState(at: number): OffHoursState {
  return { since: at, hours: new Array<number>(HOURS_PER_WEEK).fill(0), total: 0, stretch: stretch(at) };
}

/**
 * Activity at an hour of the week this person (almost) never works in, learned from their
 * own history rather than a fixed clock: someone in another time zone, always busy "at
 * night" UTC, is never flagged for it. An hour's share counts its neighbours too, so an
 * evening that runs an hour late is not off-hours; a stretch must hold minCallsInStretch
 * calls, so one stray call is not flagged.
 */
export const offHours: DetectionRule = {
  id: 'off_hours',
  evaluate(observation, context) {
    if (observation.kind !== 'call') return null;
    const settings = context.config.rules.off_hours;
    const state = slotOf(context.user, 'off_hours', () => offHoursState(observation.at));
    const hour = hourOfWeek(observation.at);
    if (observation.at - state.stretch.last > STRETCH_GAP_MS) state.stretch = stretch(observation.at);
    const share = shareOf(state, hour);
    count(state, hour);
    // An hour they usually work in ends the stretch.
    if (share > settings.maxShare) {
      state.stretch = stretch(observation.at);
      return null;
    }
    const current = state.stretch;
    extend(current, observation, hour);
    const historyDays = (observation.at - state.since) / DAY_MS;
    if (!context.warm || current.flagged || current.count < settings.minCallsInStretch || historyDays < settings.minHistoryDays) return null;
    current.flagged = true;
    return explain(observation, context, state, share, Math.floor(historyDays));
  },
};

/** The share of past calls in this hour and the two beside it, leaving out the current stretch's own. */
function shareOf(state: OffHoursState, hour: number): number {
  const { stretch: own } = state;
  let calls = 0;
  for (const h of [(hour + HOURS_PER_WEEK - 1) % HOURS_PER_WEEK, hour, (hour + 1) % HOURS_PER_WEEK]) {
    calls += state.hours[h]!;
    const i = own.ownHours.indexOf(h);
    if (i >= 0) calls -= own.ownCounts[i]!;
  }
  const total = state.total - own.count;
  return total <= 0 ? 0 : Math.max(0, calls) / total;
}

function count(state: OffHoursState, hour: number): void {
  state.hours[hour]!++;
  if (++state.total <= MAX_TOTAL) return;
  for (let h = 0; h < HOURS_PER_WEEK; h++) state.hours[h]! /= 2;
  state.total /= 2;
}

function extend(current: Stretch, observation: Observation, hour: number): void {
  if (current.count++ === 0) current.first = observation.at;
  current.last = observation.at;
  rememberEvent(current.ids, observation.event.id);
  const i = current.ownHours.indexOf(hour);
  if (i >= 0) current.ownCounts[i]!++;
  else {
    current.ownHours.push(hour);
    current.ownCounts.push(1);
  }
}

function explain(observation: Observation, context: RuleContext, state: OffHoursState, share: number, historyDays: number) {
  const settings = context.config.rules.off_hours;
  const { stretch: current } = state;
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
  return finding(context.config, 'off_hours', {
    // 1 at the largest share that still counts as off-hours, 2 for an hour never worked in.
    score: 2 - share / settings.maxShare,
    summary:
      `${observation.user} made ${current.count} calls from ${new Date(current.first).toISOString()} (${weekHourText(current.first)}), an hour of the week that held ${percent(share)} of their ` +
      `${Math.round(state.total - current.count)} calls over ${historyDays} days (at most ${percent(settings.maxShare)} counts as off-hours): activity outside someone's own pattern is how a stolen credential often shows`,
    observed: { calls: current.count, from: new Date(current.first).toISOString(), to: new Date(current.last).toISOString(), hourOfWeek: weekHourText(current.first) },
    baseline: { share: Math.round(share * 1e5) / 1e5, maxShare: settings.maxShare, calls: Math.round(state.total - current.count), historyDays },
    eventIds: eventIdsWith(current.ids, observation.event.id),
  });
}
