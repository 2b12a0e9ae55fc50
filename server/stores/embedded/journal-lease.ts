import type { PersistedMap } from './persisted-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

/** The record of a lease: who holds it until when, and the cursor they committed (kept with it, so a commit writes one record besides its own). */
export interface LeaseRecord {
  holder: string | null;
  expiresAt: number;
  cursor: string | null;
}

/** The record's key in a collection that holds one lease. */
const LEASE = 'lease';
/** The record never expires of itself: the lease is judged on its own `expiresAt`. */
const KEPT = Number.MAX_SAFE_INTEGER;

/**
 * A lease with a committed cursor in one journal collection (the detector's, the notification
 * outbox's), or under one key of a collection of several (an audit export sink's), each
 * decision taken in the journal's turn. `cursorOp` is for a store's own commit,
 * inside its journal step: the fence and the cursor write of that one step.
 */
export class JournalLease {
  private readonly records: PersistedMap<LeaseRecord>;

  constructor(
    private readonly journal: StateJournal,
    collection: string | PersistedMap<LeaseRecord>,
    private readonly key: string = LEASE,
  ) {
    this.records = typeof collection === 'string' ? journal.collection(collection) : collection;
  }

  /** Takes the lease for `holder` until `expiresAt`, or renews it, unless another holder's is live at `now`; the committed cursor when held. */
  claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    return this.journal.commit<{ cursor: string | null } | null>(() => {
      const current = this.records.get(this.key) ?? { holder: null, expiresAt: 0, cursor: null };
      if (current.holder !== null && current.holder !== holder && current.expiresAt > now) return { result: null, ops: [] };
      return { result: { cursor: current.cursor }, ops: [this.records.setOp(this.key, { ...current, holder, expiresAt }, KEPT)] };
    });
  }

  release(holder: string): Promise<void> {
    return this.journal.commit(() => {
      const current = this.records.get(this.key);
      if (current?.holder !== holder) return { result: undefined, ops: [] };
      return { result: undefined, ops: [this.records.setOp(this.key, { ...current, holder: null, expiresAt: 0 }, KEPT)] };
    });
  }

  /** The committed cursor, whoever holds the lease. */
  cursor(): string | null {
    return this.records.get(this.key)?.cursor ?? null;
  }

  /** The op that sets the cursor, when `holder` holds a lease live at `leaseNow`; null otherwise (nothing may be written). */
  cursorOp(holder: string, leaseNow: number, cursor: string): StateOp | null {
    const current = this.records.get(this.key);
    if (current?.holder !== holder || current.expiresAt <= leaseNow) return null;
    return this.records.setOp(this.key, { ...current, cursor }, KEPT);
  }
}
