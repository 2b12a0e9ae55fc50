import type { OutboxEntry } from './types.js';

/** When a pending entry may be tried: due, and no instance's claim on it live. */
export function readyAt(entry: Pick<OutboxEntry, 'dueAt' | 'claimedUntil'>): number {
  return Math.max(entry.dueAt, entry.claimedUntil);
}
