import type { ChainLink } from './chain.js';
import type { ChainedAuditEvent } from './types.js';

/** Per generation: the outlier detector reads every 50 ms, a live feed at once, so both find theirs in two. */
const GENERATION_MS = 250;
const GENERATION_EVENTS = 1_024;
const GENERATION_BYTES = 4 * 1024 * 1024;

/**
 * The events this instance committed lately, by the store's cursor, so that its own tails
 * (the outlier detector in the relay's process, the live feeds) hand them over as committed
 * instead of parsing each one back from the store's reply. A store's entry is taken from here
 * only when it holds exactly the JSON committed: then parsing it would give this event (a
 * string compare costs far less than the parse), and any other entry under the cursor (one
 * rewritten in the store, or another event under a cursor a failed-over store issued again)
 * is parsed as every other reader parses it.
 *
 * Two generations, the older dropped when the newer is full (in events or bytes) or old, and
 * both once nothing was added for two generations' time: an event is held for at most about
 * two, whether or not a tail came for it, and a tail that fell behind parses as before.
 */
export class RecentCommits {
  private current = new Map<string, ChainLink>();
  private previous = new Map<string, ChainLink>();
  private bytes = 0;
  private startedAt = performance.now();
  private sweep: NodeJS.Timeout | undefined;

  add(cursor: string, link: ChainLink): void {
    this.age();
    if (this.current.size >= GENERATION_EVENTS || this.bytes >= GENERATION_BYTES) this.turn();
    this.current.set(cursor, link);
    this.bytes += link.json.length;
    this.armSweep();
  }

  /** The committed event under this cursor, if this instance committed lately exactly the JSON the store holds there. */
  get(cursor: string, json: string | undefined): ChainedAuditEvent | undefined {
    this.age();
    const link = this.current.get(cursor) ?? this.previous.get(cursor);
    return link !== undefined && link.json === json ? link.event : undefined;
  }

  /** Ages the generations while they hold anything: an idle broker is not left holding its last commits. */
  private armSweep(): void {
    this.sweep ??= setTimeout(() => {
      this.sweep = undefined;
      this.age();
      if (this.current.size + this.previous.size > 0) this.armSweep();
    }, GENERATION_MS).unref();
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
    this.bytes = 0;
    this.startedAt = performance.now();
  }
}
