import { MAX_FINDING_EVENTS } from '../types.js';

/**
 * The events behind an ongoing count (a window, a stretch), for a finding's `eventIds`:
 * the first ones (how it began) and, at the time of the finding, the observation's own.
 * Fixed size whatever the count.
 */
export function rememberEvent(ids: string[], id: string): void {
  if (ids.length < MAX_FINDING_EVENTS - 1) ids.push(id);
}

/** A finding's `eventIds`: those remembered, then the triggering event. */
export function eventIdsWith(ids: readonly string[], own: string): string[] {
  const kept = ids.slice(0, MAX_FINDING_EVENTS - 1);
  if (kept[kept.length - 1] !== own) kept.push(own);
  return kept;
}

/** The last `size` events (time and cursor), a ring: `next` is where the next one goes. */
export interface EventRing {
  size: number;
  at: number[];
  id: string[];
  next: number;
}

export function eventRing(size: number): EventRing {
  return { size, at: [], id: [], next: 0 };
}

/** Adds an event; returns the slot it took (for what a rule keeps beside it). */
export function pushEvent(ring: EventRing, at: number, id: string): number {
  const slot = ring.next;
  ring.at[slot] = at;
  ring.id[slot] = id;
  ring.next = (slot + 1) % ring.size;
  return slot;
}

/** The slots of the events after `since`, oldest first. */
export function slotsAfter(ring: EventRing, since: number): number[] {
  const slots: number[] = [];
  const length = ring.at.length;
  for (let i = 0; i < length; i++) {
    const slot = (ring.next + i) % length;
    if (ring.at[slot]! > since) slots.push(slot);
  }
  return slots;
}

/** Cursors of the events after `since`, oldest first, at most MAX_FINDING_EVENTS (the newest). */
export function idsAfter(ring: EventRing, since: number): string[] {
  return slotsAfter(ring, since)
    .slice(-MAX_FINDING_EVENTS)
    .map((slot) => ring.id[slot]!);
}
