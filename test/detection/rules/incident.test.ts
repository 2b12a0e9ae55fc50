import { describe, expect, it } from 'vitest';
import { flagged, incidentLatch, MAX_INCIDENT_WINDOWS, ongoing } from '../../../server/detection/rules/incident.js';
import type { IncidentLatch } from '../../../server/detection/rules/incident.js';

const WINDOW = 300_000;

/** The times an incident with evidence every `everyMs` from 0 to `untilMs` is flagged at. */
function flagsOf(latch: IncidentLatch, everyMs: number, untilMs: number): number[] {
  const flags: number[] = [];
  for (let at = 0; at <= untilMs; at += everyMs) {
    if (ongoing(latch, at, WINDOW)) continue;
    flagged(latch, at, WINDOW);
    flags.push(at);
  }
  return flags;
}

describe('the incident latch', () => {
  it('keeps an incident quiet while its evidence keeps coming, but flags it again every MAX_INCIDENT_WINDOWS windows however short its pauses', () => {
    const span = MAX_INCIDENT_WINDOWS * WINDOW;
    expect(flagsOf(incidentLatch(), 60_000, 3 * span)).toEqual([0, span, 2 * span, 3 * span]);
  });

  it('flags again after a quiet window, as before', () => {
    const latch = incidentLatch();
    expect(flagsOf(latch, 60_000, WINDOW - 60_000)).toEqual([0]);
    expect(ongoing(latch, 2 * WINDOW, WINDOW)).toBe(false);
  });

  it('bounds a latch stored before the flag time was kept from the first evidence it sees, without flagging it again at once', () => {
    const legacy = { until: 10 * WINDOW } as IncidentLatch;
    const quiet: boolean[] = [];
    for (let at = 9 * WINDOW; at < 9 * WINDOW + MAX_INCIDENT_WINDOWS * WINDOW; at += WINDOW / 2) quiet.push(ongoing(legacy, at, WINDOW));
    expect(quiet.every(Boolean)).toBe(true);
    expect(ongoing(legacy, 9 * WINDOW + MAX_INCIDENT_WINDOWS * WINDOW, WINDOW)).toBe(false);
  });
});
