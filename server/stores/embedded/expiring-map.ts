import type { Clock } from '../../clock.js';
import { StoreFullError } from '../../errors.js';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * In-process map whose entries vanish at an absolute time on the injected clock. A
 * periodic sweep bounds memory; reads never trust an entry the sweep has not reached.
 * With a capacity, `checkRoom` refuses a new key beyond it (StoreFullError) once a sweep
 * finds no expired entry to drop: live entries are never evicted.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  private readonly onSet?: (key: string, value: V) => void;
  private readonly onRemove?: (key: string, value: V) => void;
  private readonly capacity: number;

  constructor(
    private readonly clock: Clock,
    options: {
      /** Called whenever an entry is set (a derived index follows the map). */
      onSet?: (key: string, value: V) => void;
      /** Called whenever an entry leaves the map: expired, swept or deleted. */
      onRemove?: (key: string, value: V) => void;
      capacity?: number;
    } = {},
  ) {
    this.onSet = options.onSet;
    this.onRemove = options.onRemove;
    this.capacity = options.capacity ?? Infinity;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Throws StoreFullError when setting `key` would hold more live entries than the capacity. */
  checkRoom(key: string): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      this.sweep();
      if (this.entries.size >= this.capacity) throw new StoreFullError();
    }
  }

  set(key: string, value: V, expiresAt: number): void {
    this.entries.set(key, { value, expiresAt });
    this.onSet?.(key, value);
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.remove(key, entry.value);
      return undefined;
    }
    return entry.value;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry.value);
  }

  /** The live entries, expired ones dropped on the way. */
  *live(): IterableIterator<{ key: string; value: V; expiresAt: number }> {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.remove(key, entry.value);
      else yield { key, ...entry };
    }
  }

  /** Entries held, expired ones the sweep has not reached included. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.remove(key, entry.value);
    }
  }

  private remove(key: string, value: V): void {
    this.entries.delete(key);
    this.onRemove?.(key, value);
  }
}
