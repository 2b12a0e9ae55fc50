import { describe, expect, it } from 'vitest';
import { offHours } from '../../../server/detection/rules/off-hours.js';
import { DAY, HOUR, MINUTE, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';

/** Three weeks of weekdays at the person's hours (UTC). */
function withHistory(fromHour: number, toHour: number): RuleDriver {
  const driver = new RuleDriver([offHours]);
  expect(runRoutine(driver, { start: MONDAY, days: 21, fromHour, toHour, perHour: 6 })).toEqual([]);
  return driver;
}

function stretch(driver: RuleDriver, from: number, calls: number) {
  return Array.from({ length: calls }, (_, i) => driver.feed({ at: from + i * 5 * MINUTE, server: 'github', tool: 'search_code' })).flat();
}

/** Sunday 03:00 UTC at the end of the third week. */
const SUNDAY_NIGHT = MONDAY + 20 * DAY + 3 * HOUR;

describe('off_hours', () => {
  it('flags a stretch of calls at an hour of the week the person never works in, once', () => {
    const driver = withHistory(9, 17);
    const found = stretch(driver, SUNDAY_NIGHT, 12);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'off_hours', severity: 'low', score: 2, observed: { calls: 5, hourOfWeek: 'Sunday 03:00 UTC' }, baseline: { share: 0, maxShare: 0.002, calls: 720, historyDays: 19 } });
    expect(found[0]!.summary).toBe(
      "alice@example.com made 5 calls from 2026-01-25T03:00:00.000Z (Sunday 03:00 UTC), an hour of the week that held 0.00% of their 720 calls over 19 days (at most 0.20% counts as off-hours): activity outside someone's own pattern is how a stolen credential often shows",
    );
    expect(found[0]!.eventIds).toHaveLength(5);
    expect(found[0]!.eventIds.at(-1)).toBe(driver.triggeredBy[0]);
  });

  it('stays quiet on a stray call or two at night, and on an evening that runs an hour late', () => {
    const driver = withHistory(9, 17);
    expect(stretch(driver, SUNDAY_NIGHT, 4)).toEqual([]);
    expect(stretch(driver, MONDAY + 21 * DAY + 17 * HOUR, 10)).toEqual([]);
  });

  it('learns each person’s own hours: someone who always works at night UTC stays quiet at night', () => {
    const driver = withHistory(1, 9);
    expect(stretch(driver, MONDAY + 21 * DAY + 2 * HOUR, 20)).toEqual([]);
    // Their own off-hours are the afternoon.
    expect(stretch(driver, MONDAY + 21 * DAY + 14 * HOUR, 6)).toHaveLength(1);
  });

  it('stays quiet until the person has minHistoryDays of history', () => {
    const driver = new RuleDriver([offHours]);
    runRoutine(driver, { start: MONDAY, days: 9, fromHour: 9, toHour: 17, perHour: 6 });
    expect(stretch(driver, MONDAY + 9 * DAY + 3 * HOUR, 12)).toEqual([]);
  });

  it('keeps a bounded state over months', () => {
    const driver = withHistory(9, 17);
    for (let week = 0; week < 12; week++) stretch(driver, SUNDAY_NIGHT + week * 7 * DAY, 200);
    expect(driver.slotBytes('user:alice@example.com', offHours)).toBeLessThan(4 * 1024);
  });
});
