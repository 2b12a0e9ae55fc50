import type { DetectionConfig, DetectionRule, Observation } from '../types.js';
import { finding } from './finding.js';
import { eventIdsWith, rememberEvent } from './recent-events.js';
import { medianAndMad } from './robust.js';
import { slotOf } from './slot.js';
import { HOUR_MS, HOURS_PER_WEEK, hourOfWeek, MINUTE_MS, WEEK_MS, weekHourText, weekOf } from './time.js';

/** Weeks of history kept per hour of week (one row more holds the week being filled). */
const HISTORY_WEEKS = 6;
const ROWS = HISTORY_WEEKS + 1;
/** A limit no count reaches: the bucket has too little history to judge (JSON has no Infinity). */
const UNJUDGED = Number.MAX_SAFE_INTEGER;

type Settings = DetectionConfig['rules']['rate_spike'];

interface RateState {
  /** When the person was first counted: hours before it are no history. */
  since: number;
  /** The week whose row is being filled. */
  week: number;
  /** Row `week % ROWS`, column hour of week: that week's busiest window in that hour (0 when idle: idle is history too). */
  peaks: number[];
  /** The window being counted (its index since the epoch), its calls and first events. */
  window: number;
  count: number;
  ids: string[];
  /** The window's limit, computed once it reaches minCalls (-1 before). */
  limit: number;
  flagged: boolean;
}

function rateState(at: number): RateState {
  return { since: Math.floor(at / HOUR_MS) * HOUR_MS, week: weekOf(at), peaks: new Array<number>(ROWS * HOURS_PER_WEEK).fill(0), window: -1, count: 0, ids: [], limit: -1, flagged: false };
}

/**
 * Calls in a window against the person's own busiest windows at the same hour of week in
 * past weeks (median and MAD, so one busy week does not lift the bar): a script let loose
 * or a stolen token runs far above anyone's habit, while a busy release day stays within
 * their usual spread and a quiet person's handful of calls stays under minCalls.
 */
export const rateSpike: DetectionRule = {
  id: 'rate_spike',
  evaluate(observation, context) {
    if (observation.kind !== 'call') return null;
    const settings = context.config.rules.rate_spike;
    const windowMs = settings.windowMinutes * MINUTE_MS;
    const state = slotOf(context.user, 'rate_spike', () => rateState(observation.at));
    const window = Math.floor(observation.at / windowMs);
    // An event older than the window being counted (instances' clocks differ a little) counts in it.
    if (window > state.window) nextWindow(state, window, windowMs);
    state.count++;
    rememberEvent(state.ids, observation.event.id);
    if (!context.warm || state.flagged || state.count < settings.minCalls) return null;
    if (state.limit < 0) state.limit = limitOf(state, settings, state.window * windowMs);
    if (state.count <= state.limit) return null;
    state.flagged = true;
    return explain(observation, state, settings, context.config);
  },
};

/** Files the finished window's count as its hour's peak, starts new weeks' rows, and opens `window`. */
function nextWindow(state: RateState, window: number, windowMs: number): void {
  if (state.window >= 0) {
    const start = state.window * windowMs;
    const cell = (weekOf(start) % ROWS) * HOURS_PER_WEEK + hourOfWeek(start);
    if (state.count > state.peaks[cell]!) state.peaks[cell] = state.count;
  }
  const week = weekOf(window * windowMs);
  for (let next = state.week + 1; next <= week && next <= state.week + ROWS; next++) state.peaks.fill(0, (next % ROWS) * HOURS_PER_WEEK, (next % ROWS + 1) * HOURS_PER_WEEK);
  if (week > state.week) state.week = week;
  state.window = window;
  state.count = 0;
  state.ids.length = 0;
  state.limit = -1;
  state.flagged = false;
}

/** The count a window starting at `start` must pass: from the same hour in the past weeks the person was around for. */
function limitOf(state: RateState, settings: Settings, start: number): number {
  const history = historyOf(state, start);
  if (history.length < settings.minWeeks) return UNJUDGED;
  const { median, mad } = medianAndMad(history);
  return Math.max(median * settings.factor, median + settings.madMultiplier * mad);
}

function historyOf(state: RateState, start: number): number[] {
  const hour = hourOfWeek(start);
  const history: number[] = [];
  for (let back = 1; back <= HISTORY_WEEKS; back++) {
    const week = weekOf(start) - back;
    if (week * WEEK_MS + hour * HOUR_MS < state.since) break;
    history.push(state.peaks[(week % ROWS) * HOURS_PER_WEEK + hour]!);
  }
  return history;
}

function explain(observation: Observation, state: RateState, settings: Settings, config: DetectionConfig) {
  const start = state.window * settings.windowMinutes * MINUTE_MS;
  const history = historyOf(state, start);
  const peaks = history.slice();
  const { median, mad } = medianAndMad(history);
  // The count that flags: past the robust limit, and at least minCalls.
  const threshold = Math.max(Math.floor(state.limit) + 1, settings.minCalls);
  const when = weekHourText(start);
  return finding(config, 'rate_spike', {
    score: state.count / threshold,
    summary:
      `${observation.user} made ${state.count} calls in ${settings.windowMinutes} minutes (${when}), where their busiest ${settings.windowMinutes} minutes at that hour ` +
      `in the last ${peaks.length} weeks had a median of ${median} calls (MAD ${mad}), so the threshold was ${threshold}: a burst this far above their own habit can be a script or a stolen token at work`,
    observed: { calls: state.count, windowMinutes: settings.windowMinutes, windowStart: new Date(start).toISOString() },
    baseline: { median, mad, weeks: peaks.length, weeklyPeaks: peaks, threshold, factor: settings.factor, madMultiplier: settings.madMultiplier },
    eventIds: eventIdsWith(state.ids, observation.event.id),
  });
}
