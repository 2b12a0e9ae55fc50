/**
 * One finding per incident, not one per event: once an incident is flagged, the rule stays
 * quiet while its evidence keeps coming within `quietMs` of the last piece (a burst, a
 * stretch, a sweep), and may flag again only after such a gap.
 */
export interface IncidentLatch {
  /** Event time until which the current incident is still going on (0: none). */
  until: number;
}

export function incidentLatch(): IncidentLatch {
  return { until: 0 };
}

/** Whether evidence at `at` belongs to an incident already flagged; it extends that incident when it does. */
export function ongoing(latch: IncidentLatch, at: number, quietMs: number): boolean {
  if (at >= latch.until) return false;
  latch.until = at + quietMs;
  return true;
}

/** Marks an incident flagged at `at`. */
export function flagged(latch: IncidentLatch, at: number, quietMs: number): void {
  latch.until = at + quietMs;
}
