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

