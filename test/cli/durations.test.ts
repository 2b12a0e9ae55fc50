import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../server/text/durations.js';

describe('CLI durations', () => {
  it('reads a number with a unit, and combinations of them', () => {
    expect(parseDuration('90m')).toBe(5400);
    expect(parseDuration('2h')).toBe(7200);
    expect(parseDuration('1d')).toBe(86_400);
    expect(parseDuration('45s')).toBe(45);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration(' 2H ')).toBe(7200);
  });

  it('refuses what is not a duration, naming the accepted forms', () => {
    for (const bad of ['90', 'm', '1.5h', '-1h', '1w', '1h 30m', '', '0m']) {
      expect(() => parseDuration(bad), bad).toThrow(/is not a duration: use a number and a unit|is out of range/);
    }
    expect(() => parseDuration('3651d')).toThrow(/out of range: a duration is from 1s to 3650d/);
  });

  it('prints the shortest form it reads back', () => {
    for (const seconds of [1, 59, 60, 5400, 7200, 86_400, 90_061]) expect(parseDuration(formatDuration(seconds))).toBe(seconds);
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
  });
});
