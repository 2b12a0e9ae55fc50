import { describe, expect, it } from 'vitest';
import { formatAge, formatLocalTime, formatSpan, formatTimeLeft, formatUtcTime, fromLocalInputValue, toLocalInputValue } from '../../console/src/format/time-format';

describe('times in the viewer\'s zone, UTC on hover', () => {
  const instant = '2026-11-29T21:44:24.000Z';

  it('shows an instant in the given zone', () => {
    expect(formatLocalTime(instant, { timeZone: 'Europe/Paris', locale: 'en-GB' })).toBe('29 Nov 2026, 22:44:24');
    expect(formatLocalTime(instant, { timeZone: 'America/New_York', locale: 'en-GB' })).toBe('29 Nov 2026, 16:44:24');
  });

  it('gives the absolute UTC time for the hover text', () => {
    expect(formatUtcTime(instant)).toBe('2026-11-29 21:44:24 UTC');
  });

  it('leaves a value that is not a time as it is', () => {
    expect(formatLocalTime('soon')).toBe('soon');
    expect(formatUtcTime('soon')).toBe('soon');
  });
});

describe('durations, countdowns and ages', () => {
  it('keeps the two largest units and drops a zero second one', () => {
    expect(formatSpan(45)).toBe('45 s');
    expect(formatSpan(0)).toBe('0 s');
    expect(formatSpan(3600)).toBe('1 h');
    expect(formatSpan(5400)).toBe('1 h 30 min');
    expect(formatSpan(2 * 86_400 + 3 * 3600 + 59)).toBe('2 d 3 h');
    expect(formatSpan(750)).toBe('12 min 30 s');
  });

  it('counts down to the end of a grant, then says it ended', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(formatTimeLeft('2026-11-29T12:12:30Z', now)).toBe('12 min 30 s left');
    expect(formatTimeLeft('2026-11-29T11:59:59Z', now)).toBe('ended');
  });

  it('says how long ago a request was filed', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(formatAge('2026-11-29T11:55:00Z', now)).toBe('5 min ago');
    expect(formatAge('2026-11-29T11:59:58Z', now)).toBe('just now');
  });
});

describe('datetime-local fields', () => {
  it('shows an instant locally to the minute and reads it back as the same instant', () => {
    const value = toLocalInputValue('2026-03-04T05:06:00.000Z');
    expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/);
    expect(fromLocalInputValue(value)).toBe('2026-03-04T05:06:00.000Z');
  });

  it('reads an empty or broken field as no bound', () => {
    expect(fromLocalInputValue('')).toBeUndefined();
    expect(fromLocalInputValue('not a time')).toBeUndefined();
  });
});
