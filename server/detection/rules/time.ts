export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;
export const HOURS_PER_DAY = 24;
export const HOURS_PER_WEEK = 168;

/**
 * Hour of the week in UTC, 0..167, counted from the epoch (a Thursday): only its sameness
 * from week to week matters, never which weekday it starts on.
 */
export function hourOfWeek(at: number): number {
  return Math.floor(at / HOUR_MS) % HOURS_PER_WEEK;
}

export function weekOf(at: number): number {
  return Math.floor(at / WEEK_MS);
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** "Tuesday 14:00 UTC": the hour of week a time falls in, as a person names it (only when explaining a finding). */
export function weekHourText(at: number): string {
  const date = new Date(at);
  return `${WEEKDAYS[date.getUTCDay()]} ${String(date.getUTCHours()).padStart(2, '0')}:00 UTC`;
}

/** "5 minutes", "90 seconds". */
export function windowText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;
}
