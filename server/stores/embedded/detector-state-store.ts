import type { Clock } from '../../clock.js';
import type { EntityState } from '../../detection/types.js';
import type { DetectorClaim, DetectorStateStore } from '../types.js';
import { JournalLease } from './journal-lease.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

export const DETECTOR_COLLECTIONS = ['detector-lease', 'detector-entities'];

/**
 * An entity's state as JSON text (a commit writes hundreds of states: a string goes into the
 * journal without a structured clone of each), with its lastSeen beside it for eviction.
 */
interface StoredEntity {
  lastSeen: number;
  state: string;
}

/**
 * The detector's state in the journal: one lease record (holder, expiry, committed cursor)
 * and the entity states, each decision taken in the journal's turn, so a commit checks the
 * lease and writes in one step. Single instance, but the lease still fences: a detector
 * whose lease lapsed while it was stalled must not write over its successor's state.
 */
export class EmbeddedDetectorStateStore implements DetectorStateStore {
  private readonly lease: JournalLease;
  private readonly entities: PersistedMap<StoredEntity>;

  constructor(
    private readonly journal: StateJournal,
    private readonly clock: Clock,
  ) {
    this.lease = new JournalLease(journal, 'detector-lease');
    this.entities = journal.collection('detector-entities');
  }

  claim(holder: string, now: number, expiresAt: number): Promise<DetectorClaim | null> {
    return this.lease.claim(holder, now, expiresAt);
  }

  release(holder: string): Promise<void> {
    return this.lease.release(holder);
  }

  async load(keys: readonly string[]): Promise<Map<string, EntityState>> {
    const found = new Map<string, EntityState>();
    for (const key of keys) {
      const stored = this.entities.get(key);
      if (stored !== undefined) found.set(key, JSON.parse(stored.state) as EntityState);
    }
    return found;
  }

  commit(holder: string, leaseNow: number, cursor: string, entities: ReadonlyMap<string, { state: EntityState; expiresAt: number }>, maxEntities: number): Promise<boolean> {
    return this.journal.commit(() => {
      const now = this.clock.now();
      const cursorOp = this.lease.cursorOp(holder, leaseNow, cursor);
      if (cursorOp === null) return { result: false, ops: [] };
      const ops: StateOp[] = [cursorOp];
      let added = 0;
      for (const [key, { state, expiresAt }] of entities) {
        if (expiresAt <= now) continue;
        if (this.entities.get(key) === undefined) added++;
        ops.push(this.entities.setOp(key, { lastSeen: state.lastSeen, state: JSON.stringify(state) }, expiresAt));
      }
      // The size counts expired entries the sweep has not reached: a cheap test first, the exact count only past it.
      if (this.entities.size + added > maxEntities) {
        const lastSeen = new Map<string, number>();
        for (const { key, value } of this.entities.live()) lastSeen.set(key, value.lastSeen);
        for (const [key, { state, expiresAt }] of entities) if (expiresAt > now) lastSeen.set(key, state.lastSeen);
        for (const key of leastRecentlySeen(lastSeen, lastSeen.size - maxEntities)) ops.push(this.entities.deleteOp(key));
      }
      return { result: true, ops };
    });
  }
}

/** The `count` keys seen least recently (none when count ≤ 0). */
function leastRecentlySeen(lastSeen: ReadonlyMap<string, number>, count: number): string[] {
  if (count <= 0) return [];
  return [...lastSeen].sort((a, b) => a[1] - b[1]).slice(0, count).map(([key]) => key);
}
