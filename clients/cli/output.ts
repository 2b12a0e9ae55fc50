import { formatDuration } from '../../server/text/durations.js';

/**
 * Human output: aligned columns, no borders (greppable, like kubectl), a dash for empty
 * cells. Scripts use `--json` instead and never parse this.
 */
export function table(headers: string[], rows: string[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === '' ? '-' : oneLine(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** `Label  value` lines for one object. */
export function fields(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value === '' ? '-' : oneLine(value)}`).join('\n');
}

/** An instant as `2026-11-25 19:42 UTC (in 59m)`, relative to now. */
export function when(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const at = new Date(iso);
  const seconds = Math.round((at.getTime() - now) / 1000);
  const relative = Math.abs(seconds) < 60 ? 'now' : seconds > 0 ? `in ${formatDuration(roundTo(seconds))}` : `${formatDuration(roundTo(-seconds))} ago`;
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC (${relative})`;
}

export function list(values: readonly string[]): string {
  return values.join(',');
}

/** Whole minutes: `in 1h`, not `in 59m59s`. */
function roundTo(seconds: number): number {
  return Math.round(seconds / 60) * 60;
}


/** A line for stderr with every control character cleaned out (oneLine): errors and reports carry what brokers, upstreams and logs sent. */
export function errorLine(text: string): void {
  console.error(oneLine(text));
}

/** Control characters from the API never reach the terminal (no escape-sequence injection). */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}
