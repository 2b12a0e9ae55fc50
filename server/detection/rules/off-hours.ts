import type { DetectionRule, Observation, RuleContext } from '../types.js';
import { finding } from './finding.js';
import { eventIdsWith, rememberEvent } from './recent-events.js';
import { slotOf } from './slot.js';
import { DAY_MS, HOUR_MS, HOURS_PER_DAY, HOURS_PER_WEEK, hourOfWeek, weekHourText } from './time.js';

/** Calls further apart than this are separate stretches of activity. */
const STRETCH_GAP_MS = HOUR_MS;
/** Past this many calls counted, every count is halved: old habits fade, recent ones weigh. */
const MAX_TOTAL = 50_000;

interface OffHoursState {
  /** The first call counted: history is judged from here. */
  since: number;
  /** Calls per hour of week (UTC); an hour of day's count is the sum of its seven. */
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

/** The share of past calls in an hour and the two beside it: of the week, and of the day pooled over all seven. */
interface Shares {
  week: number;
  day: number;
}

function offHoursState(at: number): OffHoursState {
  return { since: at, hours: new Array<number>(HOURS_PER_WEEK).fill(0), total: 0, stretch: { first: at, last: at, count: 0, ids: [], ownHours: [], ownCounts: [], flagged: false } };
}

/** Starts a new stretch in place: a usual-hour call does this, so it must not allocate. */
function restart(current: Stretch, at: number): void {
  current.first = current.last = at;
  current.count = 0;
  current.ids.length = current.ownHours.length = current.ownCounts.length = 0;
  current.flagged = false;
}

/**
 * Activity at an hour this person (almost) never works in, learned from their own history
 * rather than a fixed clock: someone in another time zone, always busy "at night" UTC, is
 * never flagged for it. An hour is theirs when it is usual by hour of the week (a weekly
 * habit, such as a Sunday-night job, however rare among all days) or by hour of the day
 * pooled over all days: with a few weeks of history each hour of the week has been seen
 * only a few times, so an early start on a Wednesday at an hour they start at on other
 * days is not off-hours, while 3 am for a 9-to-5 person is. Shares count the hours beside
 * too, so an evening that runs an hour late is not off-hours; a stretch must hold
 * minCallsInStretch calls, so one stray call is not flagged.
 */
export const offHours: DetectionRule = {
  id: 'off_hours',
  evaluate(observation, context) {
    if (observation.kind !== 'call') return null;
    const settings = context.config.rules.off_hours;
    const state = slotOf(context.user, 'off_hours', () => offHoursState(observation.at));
    const hour = hourOfWeek(observation.at);
    if (observation.at - state.stretch.last > STRETCH_GAP_MS) restart(state.stretch, observation.at);
    const week = shareOf(state, hour, HOURS_PER_WEEK);
    const day = shareOf(state, hour, HOURS_PER_DAY);
    count(state, hour);
    // An hour they usually work in ends the stretch.
    if (week > settings.maxShare || day > settings.maxDayShare) {
      restart(state.stretch, observation.at);
      return null;
    }
    const current = state.stretch;
    extend(current, observation, hour);
    const historyDays = (observation.at - state.since) / DAY_MS;
    if (!context.warm || current.flagged || current.count < settings.minCallsInStretch || historyDays < settings.minHistoryDays) return null;
    current.flagged = true;
    return explain(observation, context, state, { week, day }, Math.floor(historyDays));
  },
};

/**
 * The share of past calls in this hour and the two beside it, by `period` (the week, or
 * the day: every hour of the week that falls at that hour of the day), leaving out the
 * current stretch's own.
 */
function shareOf(state: OffHoursState, hour: number, period: number): number {
  const { stretch: own } = state;
  let calls = 0;
  for (let near = hour - 1; near <= hour + 1; near++) {
    for (let h = (near + period) % period; h < HOURS_PER_WEEK; h += period) calls += state.hours[h]!;
  }
  for (let i = 0; i < own.ownHours.length; i++) {
    const distance = Math.abs((own.ownHours[i]! % period) - (hour % period));
    if (distance <= 1 || distance === period - 1) calls -= own.ownCounts[i]!;
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

function explain(observation: Observation, context: RuleContext, state: OffHoursState, shares: Shares, historyDays: number) {
  const settings = context.config.rules.off_hours;
  const { stretch: current } = state;
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
  const rounded = (value: number) => Math.round(value * 1e5) / 1e5;
  const weekHour = weekHourText(current.first);
  const dayHour = weekHour.slice(weekHour.indexOf(' ') + 1);
  const calls = Math.round(state.total - current.count);
  return finding(context.config, 'off_hours', {
    // 1 at the larger of the two shares that still counts as off-hours, 2 for an hour never worked in.
    score: 2 - Math.max(shares.week / settings.maxShare, shares.day / settings.maxDayShare),
    summary:
      `${observation.user} made ${current.count} calls from ${new Date(current.first).toISOString()} (${weekHour}), an hour that held ${percent(shares.week)} of their ${calls} calls over ${historyDays} days ` +
      `by hour of the week (at most ${percent(settings.maxShare)} counts as off-hours) and ${percent(shares.day)} by hour of the day on all days (at most ${percent(settings.maxDayShare)}): ` +
      `activity outside someone's own pattern is how a stolen credential often shows`,
    observed: { calls: current.count, from: new Date(current.first).toISOString(), to: new Date(current.last).toISOString(), hourOfWeek: weekHour, hourOfDay: dayHour },
    baseline: { share: rounded(shares.week), maxShare: settings.maxShare, dayShare: rounded(shares.day), maxDayShare: settings.maxDayShare, calls, historyDays },
    eventIds: eventIdsWith(current.ids, observation.event.id),
  });
}
