/**
 * Exponential backoff with full jitter: a wait drawn uniformly under min(cap, base·2^(attempt-1)),
 * so receivers that failed together are not retried together. `random` is in [0, 1).
 */
export function fullJitterBackoff(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
