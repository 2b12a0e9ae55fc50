import type { ChainedAuditEvent } from './types.js';

/** Per generation: the outlier detector reads every 50 ms, a live feed at once, so both find theirs in two. */
const GENERATION_MS = 250;
const GENERATION_SIZE = 1_024;

/**
 * The events this instance committed lately, by the store's cursor, so that its own tails
 * (the outlier detector in the relay's process, the live feeds) hand them over as committed
 * instead of parsing each one back from the store's reply. A store's entry is taken from here
 * only when it carries the same hash: the hash covers every chained member, so the event is
 * the stored one, and any other entry under a reused cursor (a failed-over store) is parsed.
 *
 * Two generations, the older dropped when the newer is full or old: an event is held for
 * at most two, whether or not a tail came for it, so an idle broker holds none for long and
 * a tail that fell behind parses as before.
 */
export class RecentCommits {
  private current = new Map<string, ChainedAuditEvent>();
  private previous = new Map<string, ChainedAuditEvent>();
  private startedAt = performance.now();

  add(cursor: string, event: ChainedAuditEvent): void {
    this.age();
    if (this.current.size >= GENERATION_SIZE) this.turn();
    this.current.set(cursor, event);
  }

  /** The committed event under this cursor with this hash, if this instance committed it lately. */
  get(cursor: string, hash: string | undefined): ChainedAuditEvent | undefined {
    this.age();
    const event = this.current.get(cursor) ?? this.previous.get(cursor);
    return event !== undefined && event.hash === hash ? event : undefined;
  }

  private age(): void {
    const elapsed = performance.now() - this.startedAt;
    if (elapsed < GENERATION_MS) return;
    // Two generations' time with nothing added: both are stale.
    if (elapsed >= 2 * GENERATION_MS) this.current.clear();
    this.turn();
  }

  private turn(): void {
    const emptied = this.previous;
    emptied.clear();
    this.previous = this.current;
    this.current = emptied;
    this.startedAt = performance.now();
  }
}
