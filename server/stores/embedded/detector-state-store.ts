import type { Clock } from '../../clock.js';
import { ENTITY_POOLS, evictionRank, poolBudgets, poolOf } from '../../detection/entity-budgets.js';
import type { EntityPool } from '../../detection/entity-budgets.js';
import type { EntityState } from '../../detection/types.js';
import type { DetectorClaim, DetectorStateStore } from '../types.js';
import { JournalLease } from './journal-lease.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

export const DETECTOR_COLLECTIONS = ['detector-lease', 'detector-entities'];

/**
 * An entity's state as JSON text (a commit writes hundreds of states: a string goes into the
 * journal without a structured clone of each), with what evictionRank reads beside it.
 */
interface StoredEntity {
  lastSeen: number;
  soleUser?: string;
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
  /** The tools pool's keys, so each pool's size is known without a scan (the rest are principals). */
  private readonly toolKeys = new Set<string>();

  constructor(
    private readonly journal: StateJournal,
    private readonly clock: Clock,
  ) {
    this.lease = new JournalLease(journal, 'detector-lease');
    this.entities = journal.collection('detector-entities', {
      onSet: (key) => {
        if (poolOf(key) === 'tools') this.toolKeys.add(key);
      },
      onRemove: (key) => this.toolKeys.delete(key),
    });
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
      const added: Record<EntityPool, number> = { tools: 0, principals: 0 };
      for (const [key, { state, expiresAt }] of entities) {
        if (expiresAt <= now) continue;
        if (this.entities.get(key) === undefined) added[poolOf(key)]++;
        ops.push(this.entities.setOp(key, { lastSeen: state.lastSeen, soleUser: state.soleUser, state: JSON.stringify(state) }, expiresAt));
      }
      const budgets = poolBudgets(maxEntities);
      for (const pool of ENTITY_POOLS) {
        // The sizes count expired entries the sweep has not reached: a cheap test first, the exact count only past it.
        if (this.held(pool) + added[pool] > budgets[pool]) ops.push(...this.evictions(pool, budgets[pool], entities, now));
      }
      return { result: true, ops };
    });
  }

  private held(pool: EntityPool): number {
    return pool === 'tools' ? this.toolKeys.size : this.entities.size - this.toolKeys.size;
  }

  /** Deletes the pool's lowest ranked beyond its budget, the states being committed ranked as they will be. */
  private evictions(pool: EntityPool, budget: number, committing: ReadonlyMap<string, { state: EntityState; expiresAt: number }>, now: number): StateOp[] {
    const ranks = new Map<string, number>();
    for (const { key, value } of this.entities.live()) if (poolOf(key) === pool) ranks.set(key, evictionRank(value, value.lastSeen));
    for (const [key, { state, expiresAt }] of committing) if (expiresAt > now && poolOf(key) === pool) ranks.set(key, evictionRank(state, state.lastSeen));
    return lowestRanked(ranks, ranks.size - budget).map((key) => this.entities.deleteOp(key));
  }
}

/** The `count` lowest ranked keys (none when count ≤ 0). */
function lowestRanked(ranks: ReadonlyMap<string, number>, count: number): string[] {
  if (count <= 0) return [];
  return [...ranks].sort((a, b) => a[1] - b[1]).slice(0, count).map(([key]) => key);
}
