import { checkListingCursor } from '../../access/listing-cursor.js';
import type { AnomalyRecord, AnomalyStatus, Suppression } from '../../detection/types.js';
import { StoreFullError } from '../../errors.js';
import { anomalyListingKey, matchesAnomalyFilter, MAX_TRIM_PER_CREATE } from '../anomaly-listing.js';
import { TOO_MANY_SUPPRESSIONS } from '../types.js';
import type { AnomalyStore, Listed } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';

/** Anomalies do not expire: they go when newer ones push them past `keep`. */
const KEPT = Number.MAX_SAFE_INTEGER;

/**
 * Single-instance anomalies and suppressions in two journal collections. The listing order
 * is kept as a sorted array of listing keys beside the records (rebuilt as they load), so
 * trimming to `keep` on create and paging from a cursor cost a binary search, not a sort of
 * every record; anomalies arrive in log order, so an insert is almost always an append.
 */
export class EmbeddedAnomalyStore implements AnomalyStore {
  private readonly records: PersistedMap<AnomalyRecord>;
  private readonly suppressed: PersistedMap<Suppression>;
  /** Listing keys, oldest first. */
  private readonly order: string[] = [];

  constructor(
    private readonly journal: StateJournal,
    private readonly suppressionCapacity: number,
  ) {
    this.records = journal.collection('anomalies', {
      onSet: (_id, record) => this.index(anomalyListingKey(record)),
      onRemove: (_id, record) => this.unindex(anomalyListingKey(record)),
    });
    this.suppressed = journal.collection('anomaly-suppressions');
  }

  async create(record: AnomalyRecord, keep: number): Promise<boolean> {
    const key = anomalyListingKey(record);
    return this.journal.commit(() => {
      if (this.records.get(record.id)) return { result: false, ops: [] };
      // The newest `keep` stay, the newcomer counted among them: one older than all of them is not kept.
      const excess = Math.min(this.order.length + 1 - keep, MAX_TRIM_PER_CREATE);
      const victims = excess > 0 ? [...this.order.slice(0, excess), key].sort().slice(0, excess) : [];
      const ops = [this.records.setOp(record.id, record, KEPT), ...victims.map((victim) => this.records.deleteOp(idOf(victim)))];
      return { result: true, ops };
    });
  }

  async get(id: string): Promise<AnomalyRecord | null> {
    const record = this.records.get(id);
    return record ? structuredClone(record) : null;
  }

  async update(next: AnomalyRecord): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.records.get(next.id);
      if (!current || current.version !== next.version - 1) return { result: false, ops: [] };
      return { result: true, ops: [this.records.setOp(next.id, next, KEPT)] };
    });
  }

  async list(options: { user?: string; status?: AnomalyStatus; after?: string; limit: number }): Promise<Listed<AnomalyRecord>[]> {
    const listed: Listed<AnomalyRecord>[] = [];
    const start = options.after === undefined ? this.order.length : this.position(checkListingCursor(options.after));
    for (let i = start - 1; i >= 0 && listed.length < options.limit; i--) {
      const cursor = this.order[i]!;
      const record = this.records.get(idOf(cursor));
      if (record && matchesAnomalyFilter(record, options)) listed.push({ cursor, record: structuredClone(record) });
    }
    return listed;
  }

  suppress(suppression: Suppression): Promise<void> {
    // Counted in the journal's turn, so racing suppressions cannot pass the bound together.
    return this.suppressed.setChecked(suppression.id, suppression, suppression.expiresAt, () => {
      if (this.suppressed.get(suppression.id) === undefined && [...this.suppressed.live()].length >= this.suppressionCapacity) throw new StoreFullError(TOO_MANY_SUPPRESSIONS);
    });
  }

  async suppressions(now: number): Promise<Suppression[]> {
    return Array.from(this.suppressed.live(), ({ value }) => structuredClone(value))
      .filter((s) => s.expiresAt > now)
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }

  async unsuppress(id: string): Promise<Suppression | null> {
    return (await this.suppressed.take(id)) ?? null;
  }

  private index(key: string): void {
    const at = this.position(key);
    // An update sets the record again under the same key: indexed once.
    if (this.order[at] !== key) this.order.splice(at, 0, key);
  }

  private unindex(key: string): void {
    const at = this.position(key);
    if (this.order[at] === key) this.order.splice(at, 1);
  }

  /** Where `key` is, or would go, in `order` (the first position not below it). */
  private position(key: string): number {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.order[mid]! < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

function idOf(listingKey: string): string {
  return listingKey.slice(listingKey.indexOf(':') + 1);
}
