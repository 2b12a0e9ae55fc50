/**
 * One finding per incident, not one per event: once an incident is flagged, the rule stays
 * quiet while its evidence keeps coming within `quietMs` of the last piece (a burst, a
 * stretch, a sweep), and may flag again after such a gap, or once MAX_INCIDENT_WINDOWS
 * windows have passed since it was flagged.
 */
export interface IncidentLatch {
  /** Event time until which the current incident is still going on (0: none). */
  until: number;
  /** Event time the current incident was flagged (absent in a latch stored before it was kept). */
  flaggedAt?: number;
}

/**
 * How many `quietMs` one finding covers at most. Without a bound, someone who never paused
 * for a whole window was flagged once and never again: cut once (suspend_session), they
 * reconnected and carried on unflagged. Past it, the incident is flagged (and answered) again.
 */
export const MAX_INCIDENT_WINDOWS = 3;

export function incidentLatch(): IncidentLatch {
  return { until: 0, flaggedAt: 0 };
}

/** Whether evidence at `at` belongs to an incident already flagged and not yet due again; it extends that incident when it does. */
export function ongoing(latch: IncidentLatch, at: number, quietMs: number): boolean {
  if (at >= latch.until) return false;
  // A latch stored without its flag time is bounded from now: flagging it at once would repeat an anomaly on upgrade.
  latch.flaggedAt ??= at;
  if (at - latch.flaggedAt >= MAX_INCIDENT_WINDOWS * quietMs) return false;
  latch.until = at + quietMs;
  return true;
}

/** Marks an incident flagged at `at`. */
export function flagged(latch: IncidentLatch, at: number, quietMs: number): void {
  latch.until = at + quietMs;
  latch.flaggedAt = at;
}
