import { performance } from 'node:perf_hooks';
import type { AccessPolicy } from '../access/access-policy.js';
import type { Clock } from '../clock.js';
import { ForbiddenError, InvalidCursorError, InvalidInputError } from '../errors.js';
import { emailKey } from '../identity/email-key.js';
import type { Principal } from '../identity/principal.js';
import type { CursorSeal } from '../stores/sealed-cursor.js';
import { abortableTail } from './abortable-tail.js';
import { ReplayPace } from './replay-pace.js';
import type { AuditKeyRing } from './seal.js';
import { refusedAsBroken, verifyLog } from './verify.js';
import type { VerifyReport } from './verify.js';
import type { AuditEvent, AuditLog, AuditOutcome } from './types.js';

export interface AuditFilter {
  types?: readonly string[] | null;
  actor?: string | null;
  server?: string | null;
  outcome?: AuditOutcome | null;
  since?: Date | null;
  until?: Date | null;
  tool?: string | null;
  sessionId?: string | null;
}

/** Which way a listing reads the log: from the oldest event on, or back from the newest. */
export type AuditOrder = 'OLDEST_FIRST' | 'NEWEST_FIRST';

/** How the chain is verified on request: the keys checkpoints must be sealed with (when configured) and the longest gap between them. */
export interface ChainVerification {
  keys?: AuditKeyRing;
  maxGapMs: number;
  clock: Clock;
}

export interface AuditPage {
  items: AuditEvent[];
  endCursor: string | null;
  hasNextPage: boolean;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const BATCH = 500;
/** Events looked at per query before answering with what was found (filters can be narrow). */
const MAX_SCAN = 20_000;
/**
 * How long a listing waits in all for its person's pace (replay-pace.ts) before answering
 * with what it found and where it stopped: many listings of one person at once overdraw it
 * together, and a request has no way to learn that its client left.
 */
const MAX_LISTING_WAIT_MS = 1_000;

/**
 * What one request may scan of the log over all its listings: a GraphQL operation can ask
 * for a listing under many aliases, and each would scan its own MAX_SCAN. Listings running
 * at once share it as they go; each may overrun it by at most the batch it was reading when
 * it ran out.
 */
export class ScanBudget {
  left: number;

  /** At most MAX_SCAN: a listing alone never scans more. */
  constructor(left = MAX_SCAN) {
    this.left = Math.min(left, MAX_SCAN);
  }
}

/**
 * Reading the audit log: auditors (a role with `audit: true`, through a credential holding
 * `audit:read`) see every event; anyone else sees only the events they are the actor of.
 * Queries and live feeds read the log itself, in order, so a feed resumed from a cursor
 * has no gap and no duplicate.
 */
export class AuditService {
  constructor(
    private readonly log: AuditLog,
    private readonly policy: AccessPolicy,
    private readonly chain: ChainVerification,
    /** Seals a listing's cursor that would otherwise name an event the caller may not see. */
    private readonly cursors: CursorSeal,
    private readonly replayPace = new ReplayPace(),
  ) {}

  /**
   * A page of visible events in `order`; `after` is the last cursor of the previous page
   * read in the same order (with NEWEST_FIRST, the page goes on with older events).
   */
  async list(caller: Principal, filter: AuditFilter, options: { first?: number | null; after?: string | null; order?: AuditOrder | null; budget?: ScanBudget }): Promise<AuditPage> {
    const sees = this.sees(caller);
    const matches = matching(filter);
    const first = options.first ?? DEFAULT_PAGE;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw new InvalidInputError(`first must be between 1 and ${MAX_PAGE}`, 'first');
    const read = options.order === 'NEWEST_FIRST' ? (cursor?: string) => this.log.readBackward({ before: cursor, limit: BATCH }) : (cursor?: string) => this.log.read({ after: cursor, limit: BATCH });
    const items: AuditEvent[] = [];
    const scope = cursorScope(caller);
    let after = await this.cursors.after(scope, options.after);
    const budget = options.budget ?? new ScanBudget();
    // The request's budget spent by its other listings: nothing read, the caller goes on from where it asked.
    if (budget.left <= 0) return { items, endCursor: options.after ?? null, hasNextPage: true };
    const pace = this.replayPace.hold(personOf(caller));
    try {
      let stoppedHidden = false;
      let ended = false;
      let outOfTime = false;
      const deadline = performance.now() + MAX_LISTING_WAIT_MS;
      // One visible event past the page tells whether there is a next page.
      while (items.length <= first && budget.left > 0) {
        const pause = pace.wait(undefined, deadline - performance.now());
        if (pause) {
          outOfTime = performance.now() >= deadline;
          if (outOfTime) break;
          await pause;
        }
        const batch = await read(after);
        let passed = 0;
        for (const event of batch) {
          budget.left--;
          after = event.id;
          stoppedHidden = !sees(event);
          if (!stoppedHidden && matches(event)) items.push(event);
          else passed++;
          if (items.length > first) break;
        }
        pace.passed(passed);
        ended = batch.length < BATCH;
        if (ended) break;
      }
      if (items.length > first) return { items: items.slice(0, first), endCursor: items[first - 1]!.id, hasNextPage: true };
      // Scan budget spent: the cursor is where scanning stopped, so the next page goes on from
      // there; sealed when that is another's event, whose id (a stream's millisecond) it would show.
      if (!ended && (budget.left <= 0 || outOfTime)) return { items, endCursor: await this.cursors.stoppedAt(scope, after, stoppedHidden), hasNextPage: true };
      return { items, endCursor: items.at(-1)?.id ?? options.after ?? null, hasNextPage: false };
    } finally {
      pace.release();
    }
  }

  /**
   * Every visible event after the cursor (or from now, without one), then live ones. What a
   * replay reads past, up to the newest event when it began, is paced per person (replay-pace.ts).
   */
  follow(caller: Principal, filter: AuditFilter, after: string | null | undefined, signal: AbortSignal): AsyncIterable<AuditEvent> {
    const keep = this.visible(caller, filter);
    const { log, replayPace } = this;
    // A tail starting where a listing stopped may be handed that listing's sealed cursor (portcullis audit tail does).
    const open = (cursor: string) => this.cursors.open(cursorScope(caller), cursor);
    return abortableTail(signal, async function* (inner) {
      if (!after) {
        for await (const event of log.tail('end', inner)) if (keep(event)) yield event;
        return;
      }
      const position = await open(after);
      // The replay ends at the newest event now (by position in the log, not by any clock).
      let replaying = (await log.readBackward({ limit: 1 }))[0]?.id;
      if (replaying === position) replaying = undefined;
      const pace = replayPace.hold(personOf(caller));
      try {
        for await (const event of log.tail({ after: position }, inner)) {
          if (keep(event)) yield event;
          else if (replaying !== undefined) {
            pace.passed(1);
            const pause = pace.wait(inner);
            if (pause) await pause;
          }
          if (event.id === replaying) replaying = undefined;
        }
      } finally {
        pace.release();
      }
    });
  }

  /**
   * The visible events with these cursors, in the order given; a cursor the log no longer
   * holds (retention) or never issued is left out. The log reads by position, so each costs
   * two short reads (the event before it, then the one after that): callers bound the list.
   */
  async byIds(caller: Principal, ids: readonly string[]): Promise<AuditEvent[]> {
    const keep = this.visible(caller, {});
    const found = await Promise.all(ids.map((id) => this.eventAt(id)));
    return found.filter((event): event is AuditEvent => event !== null && keep(event));
  }

  /** Auditors only: the same walk over the hash chain as `portcullis audit verify`, over the log as it is now. */
  async verify(caller: Principal): Promise<VerifyReport> {
    if (!this.readsAll(caller)) throw new ForbiddenError('only auditors (with the audit:read scope) may verify the audit chain');
    const { keys, maxGapMs, clock } = this.chain;
    return refusedAsBroken(async () => verifyLog(await this.log.stored(), { keys, maxGapMs, now: clock.now() }));
  }

  /** Whether the caller reads every event (else only their own). */
  readsAll(caller: Principal): boolean {
    return caller.scopes.has('audit:read') && this.policy.isAuditor(caller);
  }

  private async eventAt(id: string): Promise<AuditEvent | null> {
    try {
      const [previous] = await this.log.readBackward({ before: id, limit: 1 });
      const [event] = await this.log.read({ after: previous?.id, limit: 1 });
      return event?.id === id ? event : null;
    } catch (error) {
      if (error instanceof InvalidCursorError) return null;
      throw error;
    }
  }

  private visible(caller: Principal, filter: AuditFilter): (event: AuditEvent) => boolean {
    const sees = this.sees(caller);
    const matches = matching(filter);
    return (event) => sees(event) && matches(event);
  }

  /** Whether the caller may see an event at all, whatever their filter. */
  private sees(caller: Principal): (event: AuditEvent) => boolean {
    if (!caller.scopes.has('audit:read') && !caller.scopes.has('api')) throw new ForbiddenError('this token lacks the "audit:read" scope');
    const all = this.readsAll(caller);
    return (event) => all || event.actor === caller.user.email;
  }
}

function matching(filter: AuditFilter): (event: AuditEvent) => boolean {
  const types = filter.types && filter.types.length > 0 ? new Set(filter.types) : null;
  const since = filter.since?.getTime();
  const until = filter.until?.getTime();
  return (event) => {
    if (types && !types.has(event.type)) return false;
    if (filter.actor != null && event.actor !== filter.actor) return false;
    if (filter.server != null && event.server !== filter.server) return false;
    if (filter.outcome != null && event.outcome !== filter.outcome) return false;
    if (filter.tool != null && event.tool !== filter.tool) return false;
    if (filter.sessionId != null && event.sessionId !== filter.sessionId) return false;
    if (since !== undefined || until !== undefined) {
      const time = Date.parse(event.time);
      if (since !== undefined && time < since) return false;
      if (until !== undefined && time > until) return false;
    }
    return true;
  };
}

/** Whose reads share one pace: what one sees goes by their email (sees()), whichever IdP or sign-in they came through. */
function personOf(caller: Principal): string {
  return emailKey(caller.user.email);
}

/** What the caller's sealed audit cursors are good for: their own listings and feeds. */
function cursorScope(caller: Principal): string {
  return `audit:${caller.user.id}`;
}
