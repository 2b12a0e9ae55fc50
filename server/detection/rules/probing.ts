import { MAX_FINDING_EVENTS } from '../types.js';
import type { DenialKind, DetectionRule } from '../types.js';
import { finding } from './finding.js';
import { flagged, incidentLatch, ongoing } from './incident.js';
import type { IncidentLatch } from './incident.js';
import { eventRing, pushEvent, slotsAfter } from './recent-events.js';
import type { EventRing } from './recent-events.js';
import { slotOf } from './slot.js';
import { windowText } from './time.js';

/** The last denials, enough of them to count a window's worth, with the kind of each (same slot). */
interface ProbingState {
  denials: EventRing;
  kind: DenialKind[];
  /** The digest of the name an `unknown_name` denial refused (observe.ts), else null (same slot); absent in a state stored before it was kept. */
  name?: (string | null)[];
  latch: IncidentLatch;
}

function probingState(size: number): ProbingState {
  return { denials: eventRing(size), kind: [], name: [], latch: incidentLatch() };
}

/**
 * What counts as trying what one may not: asking for what the grants do not give, or by a
 * name no server of the session has (a guessed resource URI, another session's task id),
 * arguments outside their rules, refused tokens and session opens. An unknown name refused
 * again within the window counts once: the broker forgets a server's names and tasks when it
 * drops the server from a session (a grant ended, the upstream failed), and a client polling
 * such a task, or completing on each keystroke, is refused the one name over and over. Not
 * rate-limit refusals (a busy client retrying past its limit is throughput the limit already
 * contains) nor the others (a changed tool refused until reviewed, a duplicate id, a grant
 * that just ended): an agent retrying those is no search for access.
 */
const PROBES: ReadonlySet<DenialKind | null> = new Set<DenialKind>(['not_granted', 'unknown_name', 'argument_not_allowed', 'token_refused', 'upgrade_refused']);

/**
 * A burst of refusals by one person: someone trying what they may not. A couple of
 * `tool_not_granted` after a grant expired stay far below the count. A fixed threshold, so
 * judged from a person's first refusal.
 */
export const probing: DetectionRule = {
  id: 'probing',
  judgesNewcomers: true,
  evaluate(observation, context) {
    if (observation.kind !== 'denial' || !PROBES.has(observation.denial)) return null;
    const { windowSeconds, minDenials } = context.config.rules.probing;
    const windowMs = windowSeconds * 1000;
    const size = Math.max(minDenials, MAX_FINDING_EVENTS);
    const state = slotOf(context.user, 'probing', () => probingState(size));
    // The ring was sized for another minDenials (the config changed): start it again.
    if (state.denials.size !== size) Object.assign(state, probingState(size));
    const since = observation.at - windowMs;
    const name = observation.denial === 'unknown_name' ? observation.argumentsDigest : null;
    // Taking no slot, a repeat cannot push out of the ring the refusals that count.
    if (name !== null && refusedBefore(state, name, since)) return null;
    const slot = pushEvent(state.denials, observation.at, observation.event.id);
    state.kind[slot] = observation.denial!;
    (state.name ??= [])[slot] = name;
    const slots = slotsAfter(state.denials, since);
    if (slots.length < minDenials || ongoing(state.latch, observation.at, windowMs)) return null;
    flagged(state.latch, observation.at, windowMs);
    const byKind: Partial<Record<DenialKind, number>> = {};
    for (const slot of slots) byKind[state.kind[slot]!] = (byKind[state.kind[slot]!] ?? 0) + 1;
    const kinds = Object.entries(byKind)
      .map(([kind, n]) => `${kind} ×${n}`)
      .join(', ');
    return finding(context.config, 'probing', {
      score: slots.length / minDenials,
      summary: `${observation.user} was refused ${slots.length} times in ${windowText(windowSeconds)} (${kinds}); the threshold is ${minDenials}: someone may be probing for access`,
      observed: { denials: slots.length, windowSeconds, byKind },
      baseline: { threshold: minDenials },
      eventIds: slots.slice(-MAX_FINDING_EVENTS).map((slot) => state.denials.id[slot]!),
    });
  },
};

/** Whether the window's counted refusals already hold one of the unknown name `name`. */
function refusedBefore(state: ProbingState, name: string, since: number): boolean {
  return state.name !== undefined && slotsAfter(state.denials, since).some((slot) => state.name![slot] === name);
}
