/**
 * Times as people read them: in the viewer's own time zone (Intl), with the absolute UTC
 * time kept for a `title` and a `<time datetime>`. The zone and locale are parameters so
 * tests can pin them; the console passes none and gets the browser's.
 */

export interface TimeZoneOptions {
  timeZone?: string;
  locale?: string;
}

/** "29 Nov 2026, 22:44:24" in the viewer's zone (or the one given). */
export function formatLocalTime(iso: string, options: TimeZoneOptions = {}): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(options.locale, { dateStyle: 'medium', timeStyle: 'medium', timeZone: options.timeZone }).format(date);
}

/** "2026-11-29 21:44:24 UTC": unambiguous, for hover text and exports. */
export function formatUtcTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const UNITS: [string, number][] = [
  ['d', 86_400],
  ['h', 3_600],
  ['min', 60],
  ['s', 1],
];

/** 5400 → "1 h 30 min"; the two largest units only ("2 d 3 h", never the seconds of a day). */
export function formatSpan(totalSeconds: number): string {
  let rest = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  // "1 h 0 min" reads worse than "1 h".
  return parts.filter((part, index) => index === 0 || !part.startsWith('0 ')).join(' ');
}

/** "12 min 30 s left", or "ended" once the time is past. */
export function formatTimeLeft(expiresAt: string, nowMs: number): string {
  const seconds = (new Date(expiresAt).getTime() - nowMs) / 1000;
  return seconds > 0 ? `${formatSpan(seconds)} left` : 'ended';
}

/** "5 min ago" (or "just now" under a few seconds). */
export function formatAge(since: string, nowMs: number): string {
  const seconds = (nowMs - new Date(since).getTime()) / 1000;
  return seconds < 5 ? 'just now' : `${formatSpan(seconds)} ago`;
}

/**
 * An ISO instant as a `<input type="datetime-local">` value (minutes, viewer's zone), and
 * back: the URL keeps instants in UTC, the field shows them locally.
 */
export function toLocalInputValue(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromLocalInputValue(value: string): string | undefined {
  if (!value) return undefined;
  // Without a zone, ECMAScript reads a date-time form as local time (ECMA-262 Date.parse).
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
