import type { EntityState } from './types.js';

interface Cached {
  state: EntityState;
  /** Changed since the last commit: must reach the store before it may leave memory. */
  dirty: boolean;
}

/**
 * The entity states the detector works on, in front of the store: least recently used
 * first out, but never an entry whose change is not committed yet (the cache may run over
 * its capacity until the next commit rather than lose one).
 */
export class EntityCache {
  private readonly entries = new Map<string, Cached>();
  private readonly dirtyKeys = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** The cached state, now the most recently used; undefined when it must be loaded. */
  get(key: string): EntityState | undefined {
    const cached = this.entries.get(key);
    if (cached === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, cached);
    return cached.state;
  }

  /** Adds a state as the store holds it (or a new one the store does not), as changed: the caller is about to count an observation on it. */
  add(key: string, state: EntityState): void {
    this.entries.set(key, { state, dirty: true });
    this.dirtyKeys.add(key);
    if (this.entries.size > this.capacity) this.evict();
  }

  markDirty(key: string): void {
    const cached = this.entries.get(key);
    if (cached === undefined || cached.dirty) return;
    cached.dirty = true;
    this.dirtyKeys.add(key);
  }

  get dirtyCount(): number {
    return this.dirtyKeys.size;
  }

  /** The changed states, for a commit. */
  *dirty(): IterableIterator<[string, EntityState]> {
    for (const key of this.dirtyKeys) yield [key, this.entries.get(key)!.state];
  }

  /** The commit of every changed state succeeded: they may leave memory now. */
  committed(): void {
    for (const key of this.dirtyKeys) this.entries.get(key)!.dirty = false;
    this.dirtyKeys.clear();
    if (this.entries.size > this.capacity) this.evict();
  }

  /** Forgets everything, committed or not (the lease was lost: the store is the truth again). */
  clear(): void {
    this.entries.clear();
    this.dirtyKeys.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(): void {
    for (const [key, cached] of this.entries) {
      if (this.entries.size <= this.capacity) return;
      if (!cached.dirty) this.entries.delete(key);
    }
  }
}
