import type { Clock } from '../../clock.js';
import { ExpiringMap } from './expiring-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

export interface PersistedMapOptions<V> {
  onSet?: (key: string, value: V) => void;
  onRemove?: (key: string, value: V) => void;
  capacity?: number;
}

/**
 * One collection of the state journal: an ExpiringMap that changes only once the journal
 * holds the change durably. Reads are from memory; every change goes through
 * `journal.commit`, whose turn makes check-then-write atomic. Values are stored as the
 * plain JSON they are written as.
 */
export class PersistedMap<V> {
  private readonly entries: ExpiringMap<V>;

  constructor(
    readonly name: string,
    private readonly journal: StateJournal,
    clock: Clock,
    options: PersistedMapOptions<V>,
    loaded: Iterable<[string, { value: unknown; expiresAt: number }]>,
  ) {
    this.entries = new ExpiringMap(clock, options);
    for (const [key, { value, expiresAt }] of loaded) this.entries.set(key, value as V, expiresAt);
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  live(): IterableIterator<{ key: string; value: V; expiresAt: number }> {
    return this.entries.live();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The record that sets `key`, for a commit; throws StoreFullError past the capacity. */
  setOp(key: string, value: V, expiresAt: number): StateOp {
    this.entries.checkRoom(key);
    return { c: this.name, k: key, v: structuredClone(value), x: expiresAt };
  }

  deleteOp(key: string): StateOp {
    return { c: this.name, k: key, deleted: true };
  }

  /** Called by the journal once `op` is durable. */
  apply(op: StateOp): void {
    if ('deleted' in op) this.entries.delete(op.k);
    else this.entries.set(op.k, op.v as V, op.x);
  }

  set(key: string, value: V, expiresAt: number): Promise<void> {
    return this.journal.commit(() => ({ result: undefined, ops: [this.setOp(key, value, expiresAt)] }));
  }

  /** Sets in the journal's turn, after `check` (which throws to refuse) has seen the state no other commit can change meanwhile. */
  setChecked(key: string, value: V, expiresAt: number, check: () => void): Promise<void> {
    return this.journal.commit(() => {
      check();
      return { result: undefined, ops: [this.setOp(key, value, expiresAt)] };
    });
  }

  /** Sets only when the key is absent or expired; true when it was set. */
  setIfAbsent(key: string, value: V, expiresAt: number): Promise<boolean> {
    return this.journal.commit(() => (this.get(key) === undefined ? { result: true, ops: [this.setOp(key, value, expiresAt)] } : { result: false, ops: [] }));
  }

  /** Removes the live entry and returns it: of racing takers exactly one gets it. */
  take(key: string): Promise<V | undefined> {
    return this.journal.commit(() => {
      const value = this.get(key);
      return { result: value, ops: value === undefined ? [] : [this.deleteOp(key)] };
    });
  }

  close(): void {
    this.entries.close();
  }
}
