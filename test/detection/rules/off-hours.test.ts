import { describe, expect, it } from 'vitest';
import { offHours } from '../../../server/detection/rules/off-hours.js';
import { DAY, detectionConfig, HOUR, MINUTE, MONDAY, RuleDriver, runRoutine, workingDay } from '../../support/rule-driver.js';

/** Three weeks of weekdays at the person's hours (UTC). */
function withHistory(fromHour: number, toHour: number, driver = new RuleDriver([offHours])): RuleDriver {
  expect(runRoutine(driver, { start: MONDAY, days: 21, fromHour, toHour, perHour: 6 })).toEqual([]);
  return driver;
}

function stretch(driver: RuleDriver, from: number, calls: number) {
  return Array.from({ length: calls }, (_, i) => driver.feed({ at: from + i * 5 * MINUTE, server: 'github', tool: 'search_code' })).flat();
}

/** Sunday 03:00 UTC at the end of the third week. */
const SUNDAY_NIGHT = MONDAY + 20 * DAY + 3 * HOUR;
/** Monday of the fourth week, 00:00 UTC: after the history. */
const FOURTH_WEEK = MONDAY + 21 * DAY;

describe('off_hours', () => {
  it('flags a stretch of calls at an hour of the day the person never works in, once', () => {
    const driver = withHistory(9, 17);
    const found = stretch(driver, SUNDAY_NIGHT, 12);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      rule: 'off_hours',
      severity: 'low',
      score: 2,
      observed: { calls: 5, hourOfWeek: 'Sunday 03:00 UTC', hourOfDay: '03:00 UTC' },
      baseline: { share: 0, maxShare: 0.002, dayShare: 0, maxDayShare: 0.01, calls: 720, historyDays: 19 },
    });
    expect(found[0]!.summary).toBe(
      'alice@example.com made 5 calls from 2026-01-25T03:00:00.000Z (Sunday 03:00 UTC), an hour that held 0.00% of their 720 calls over 19 days by hour of the week (at most 0.20% counts as off-hours) ' +
        "and 0.00% by hour of the day on all days (at most 1.00%): activity outside someone's own pattern is how a stolen credential often shows",
    );
    expect(found[0]!.eventIds).toHaveLength(5);
    expect(found[0]!.eventIds.at(-1)).toBe(driver.triggeredBy[0]);
  });

  it('flags 3 am on a workday too, not only at the weekend', () => {
    expect(stretch(withHistory(9, 17), FOURTH_WEEK + DAY + 3 * HOUR, 12)).toHaveLength(1);
  });

  it('stays quiet on a stray call or two at night, and on an evening that runs an hour late', () => {
    const driver = withHistory(9, 17);
    expect(stretch(driver, SUNDAY_NIGHT, 4)).toEqual([]);
    expect(stretch(driver, FOURTH_WEEK + 17 * HOUR, 10)).toEqual([]);
  });

  it('stays quiet on an early start at an hour they work in on other weekdays, though never on this one', () => {
    // 9 to 5, but on Fridays 6 to 2: Tuesday 06:00 has no history of its own.
    const driver = new RuleDriver([offHours]);
    for (let d = 0; d < 21; d++) {
      const weekday = new Date(MONDAY + d * DAY).getUTCDay();
      if (weekday === 0 || weekday === 6) continue;
      const [from, to] = weekday === 5 ? [6, 14] : [9, 17];
      for (const at of workingDay(MONDAY + d * DAY, from, to, 6)) expect(driver.feed({ at, server: 'github', tool: 'search_code' })).toEqual([]);
    }
    expect(stretch(driver, FOURTH_WEEK + DAY + 6 * HOUR, 12)).toEqual([]);
  });

  it('keeps a weekly habit as theirs in its hour of the week, rare as it is among all days', () => {
    // A Sunday 22:00 job of two calls a week: under 1% of their calls by hour of the day.
    const driver = new RuleDriver([offHours]);
    for (let week = 0; week < 3; week++) {
      runRoutine(driver, { start: MONDAY + week * 7 * DAY, days: 7, fromHour: 9, toHour: 17, perHour: 6 });
      stretch(driver, MONDAY + week * 7 * DAY + 6 * DAY + 22 * HOUR, 2);
    }
    expect(stretch(driver, FOURTH_WEEK + 2 * DAY + 22 * HOUR, 12)).toHaveLength(1);
    expect(stretch(driver, FOURTH_WEEK + 6 * DAY + 22 * HOUR, 12)).toEqual([]);
  });

  it('learns each person’s own hours: someone in another time zone (UTC+9, at work 0 to 8 UTC) stays quiet at night UTC', () => {
    const driver = withHistory(0, 8);
    expect(stretch(driver, FOURTH_WEEK + 2 * HOUR, 20)).toEqual([]);
    // Starting an hour early is the evening before in UTC: the hour beside midnight is theirs.
    expect(stretch(driver, FOURTH_WEEK + DAY + 23 * HOUR, 10)).toEqual([]);
    // Their own off-hours are the afternoon and evening UTC.
    expect(stretch(driver, FOURTH_WEEK + 2 * DAY + 14 * HOUR, 6)).toHaveLength(1);
  });

  it('stays quiet in the warm-up, and until the person has minHistoryDays of history', () => {
    const early = new RuleDriver([offHours]);
    runRoutine(early, { start: MONDAY, days: 9, fromHour: 9, toHour: 17, perHour: 6 });
    expect(stretch(early, MONDAY + 9 * DAY + 3 * HOUR, 12)).toEqual([]);
    const warming = withHistory(9, 17, new RuleDriver([offHours], detectionConfig({ warmupDays: 30 })));
    expect(stretch(warming, SUNDAY_NIGHT, 12)).toEqual([]);
  });

  it('keeps a bounded state over months', () => {
    const driver = withHistory(9, 17);
    for (let week = 0; week < 12; week++) stretch(driver, SUNDAY_NIGHT + week * 7 * DAY, 200);
    expect(driver.slotBytes('user:alice@example.com', offHours)).toBeLessThan(4 * 1024);
  });
});
