const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const DURATION = /^(?:\d+[dhms])+$/;
const PART = /(\d+)([dhms])/g;
/** Ten years: anything longer is a typo, and the broker caps durations far below it anyway. */
const MAX_SECONDS = 10 * 365 * 86_400;

/** `90m`, `2h`, `1d`, `1h30m` → seconds; anything else is refused with the accepted forms. */
export function parseDuration(text: string): number {
  const value = text.trim().toLowerCase();
  if (!DURATION.test(value)) throw new RangeError(`"${text}" is not a duration: use a number and a unit, like 90m, 2h, 1d or 1h30m`);
  let seconds = 0;
  for (const [, amount, unit] of value.matchAll(PART)) seconds += Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  if (seconds === 0 || seconds > MAX_SECONDS) throw new RangeError(`"${text}" is out of range: a duration is from 1s to 3650d`);
  return seconds;
}

/** Seconds → the shortest exact form `parseDuration` reads back: 5400 → `1h30m`. */
export function formatDuration(totalSeconds: number): string {
  let rest = Math.max(0, Math.round(totalSeconds));
  let text = '';
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text || '0s';
}
