/**
 * Keys seen within the last `windowMs`, at most `max` of them (the oldest forgotten first):
 * what repeats within the window is passed over. Per instance.
 */
export class RecentlySeen {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  /** Whether `key` was not seen within the window before `now`; it counts as seen at `now` then. */
  firstIn(key: string, now: number): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.windowMs) return false;
    // Re-inserted, so that the map's order stays the order of last sight.
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }
}

/** At most `limit` per key within each `windowMs` (fixed windows from a key's first take), for at most `max` keys. Per instance. */
export class WindowedBudget {
  private readonly windows = new Map<string, { start: number; taken: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  /** Whether `key` may take one more now (and takes it). */
  take(key: string, now: number): boolean {
    const window = this.windows.get(key);
    if (window && now - window.start < this.windowMs) {
      if (window.taken >= this.limit) return false;
      window.taken++;
      return true;
    }
    this.windows.delete(key);
    this.windows.set(key, { start: now, taken: 1 });
    if (this.windows.size > this.max) this.windows.delete(this.windows.keys().next().value!);
    return true;
  }
}
