/** Durations offered in the request and review forms, up to the longest allowed. */
const PRESETS = [15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 30 * 86_400];

/** The presets up to `max`, and `max` itself when it is not one of them. */
export function durationChoices(max: number): number[] {
  const choices = PRESETS.filter((seconds) => seconds <= max);
  if (!choices.includes(max) && max > 0) choices.push(max);
  return choices;
}

/** One hour when allowed (a sensible default for a task), else the longest allowed. */
export function defaultDuration(max: number): number {
  return max >= 3600 ? 3600 : max;
}
