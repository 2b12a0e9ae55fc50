import { describe, expect, it } from 'vitest';
import { rateSpike } from '../../../server/detection/rules/rate-spike.js';
import { DAY, HOUR, MONDAY, RuleDriver, runRoutine, WEEK } from '../../support/rule-driver.js';

/** Tuesday 10:00 UTC of simulated week `week` (0 is the first). */
const tuesdayTen = (week: number) => MONDAY + week * WEEK + DAY + 10 * HOUR;

function burst(driver: RuleDriver, from: number, calls: number, user = 'alice@example.com') {
  return Array.from({ length: calls }, (_, i) => driver.feed({ user, at: from + Math.floor((i * 9 * 60_000) / calls), server: 'github', tool: 'search_code' })).flat();
}

describe('rate_spike', () => {
  it('flags a window far above the person’s busiest windows at that hour in past weeks, once per window', () => {
    const driver = new RuleDriver([rateSpike]);
    expect(runRoutine(driver, { start: MONDAY, days: 22, fromHour: 9, toHour: 17, perHour: 12 })).toEqual([]);
    const found = burst(driver, tuesdayTen(3), 60);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'rate_spike', severity: 'medium', score: 1, observed: { calls: 40, windowMinutes: 10 }, baseline: { median: 2, mad: 0, weeks: 3, weeklyPeaks: [2, 2, 2], threshold: 40 } });
    expect(found[0]!.summary).toBe(
      'alice@example.com made 40 calls in 10 minutes (Tuesday 10:00 UTC), where their busiest 10 minutes at that hour in the last 3 weeks had a median of 2 calls (MAD 0), so the threshold was 40: a burst this far above their own habit can be a script or a stolen token at work',
    );
    expect(found[0]!.eventIds).toHaveLength(20);
    expect(found[0]!.eventIds.at(-1)).toBe(driver.triggeredBy[0]);
    // The next window is another incident.
    expect(burst(driver, tuesdayTen(3) + 10 * 60_000, 60)).toHaveLength(1);
  });

  it('stays quiet on a busy release day within the person’s usual spread, and flags what goes beyond it', () => {
    const driver = new RuleDriver([rateSpike]);
    const bob = 'bob@example.com';
    // Mornings of routine, and on Tuesdays at 10:00 bursts that vary from week to week.
    const week = (n: number, calls: number) => {
      runRoutine(driver, { user: bob, start: MONDAY + n * WEEK, days: 2, fromHour: 6, toHour: 9, perHour: 12 });
      const found = burst(driver, tuesdayTen(n), calls, bob);
      runRoutine(driver, { user: bob, start: MONDAY + n * WEEK + 2 * DAY, days: 5, fromHour: 6, toHour: 9, perHour: 12 });
      return found;
    };
    for (const [n, calls] of [30, 45, 60].entries()) expect(week(n, calls)).toEqual([]);
    expect(week(3, 100)).toEqual([]);
    runRoutine(driver, { user: bob, start: MONDAY + 4 * WEEK, days: 2, fromHour: 6, toHour: 9, perHour: 12 });
    const [found] = burst(driver, tuesdayTen(4), 250, bob);
    expect(found).toMatchObject({ observed: { calls: 211 }, baseline: { median: 52.5, mad: 15, weeks: 4, threshold: 211 } });
  });

  it('stays quiet on a quiet person’s handful of calls, on too little history, and during warm-up', () => {
    const driver = new RuleDriver([rateSpike]);
    runRoutine(driver, { user: 'carol@example.com', start: MONDAY, days: 22, fromHour: 9, toHour: 17, perHour: 1 });
    expect(burst(driver, tuesdayTen(3), 12, 'carol@example.com')).toEqual([]);
    runRoutine(driver, { user: 'dave@example.com', start: MONDAY, days: 8, fromHour: 9, toHour: 17, perHour: 4 });
    expect(burst(driver, tuesdayTen(1), 100, 'dave@example.com')).toEqual([]);
    expect(burst(driver, MONDAY + 2 * DAY, 100, 'erin@example.com')).toEqual([]);
  });

  it('keeps a bounded state over months', () => {
    const driver = new RuleDriver([rateSpike]);
    runRoutine(driver, { start: MONDAY, days: 7, fromHour: 0, toHour: 24, perHour: 6, weekdaysOnly: false });
    const week = driver.slotBytes('user:alice@example.com', rateSpike);
    runRoutine(driver, { start: MONDAY + WEEK, days: 20 * 7, fromHour: 0, toHour: 24, perHour: 6, weekdaysOnly: false });
    expect(driver.slotBytes('user:alice@example.com', rateSpike)).toBeLessThanOrEqual(week + 64);
    expect(week).toBeLessThan(4 * 1024);
  });
});
