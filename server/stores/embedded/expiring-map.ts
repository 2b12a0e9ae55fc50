import type { Clock } from '../../clock.js';
import { StoreFullError } from '../../errors.js';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * In-process map whose entries vanish at an absolute time on the injected clock. A
 * periodic sweep bounds memory; reads never trust an entry the sweep has not reached.
 * With a capacity, a new key beyond it is refused (StoreFullError) once a sweep finds
 * no expired entry to drop: live entries are never evicted.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  private readonly onRemove?: (key: string, value: V) => void;
  private readonly capacity: number;

  constructor(
    private readonly clock: Clock,
    options: {
      /** Called whenever an entry leaves the map: expired, swept or taken. */
      onRemove?: (key: string, value: V) => void;
      capacity?: number;
    } = {},
  ) {
    this.onRemove = options.onRemove;
    this.capacity = options.capacity ?? Infinity;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  set(key: string, value: V, expiresAt: number): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      this.sweep();
      if (this.entries.size >= this.capacity) throw new StoreFullError();
    }
    this.entries.set(key, { value, expiresAt });
  }

  /** Sets only when the key is absent or expired; true when it was set. */
  setIfAbsent(key: string, value: V, expiresAt: number): boolean {
    if (this.get(key) !== undefined) return false;
    this.set(key, value, expiresAt);
    return true;
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

  take(key: string): V | undefined {
    const value = this.get(key);
    if (value !== undefined) this.remove(key, value);
    return value;
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
