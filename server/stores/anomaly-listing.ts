import { LISTING_ID, listingKey } from '../access/listing-cursor.js';
import type { AnomalyRecord, AnomalyStatus } from '../detection/types.js';
import { InvalidInputError } from '../errors.js';

/**
 * Anomalies dropped by one create at most. Normally one goes as one comes; after
 * `keepAnomalies` was lowered, the surplus goes this many per new anomaly instead of in one
 * step that would block Redis (or write one huge journal line) for seconds.
 */
export const MAX_TRIM_PER_CREATE = 1_000;

/** What `AnomalyStore.list` narrows by. */
export interface AnomalyFilter {
  user?: string;
  status?: AnomalyStatus;
}

/**
 * An anomaly's place in the listing: the time of its triggering event, then its id (the
 * access listings' key), so newest first is the order the log raised them in to the
 * millisecond (within one, by id), and a cursor still names a position once its record
 * was trimmed. Ids the cursor could not carry are refused at create rather than listed
 * under a cursor that is then refused.
 */
export function anomalyListingKey(record: Pick<AnomalyRecord, 'at' | 'id'>): string {
  const at = Date.parse(record.at);
  if (!Number.isFinite(at) || at < 0 || !LISTING_ID.test(record.id)) throw new InvalidInputError(`anomaly ${JSON.stringify(record.id.slice(0, 64))} has no listable id and time`);
  return listingKey(at, record.id);
}

export function matchesAnomalyFilter(record: AnomalyRecord, filter: AnomalyFilter): boolean {
  return (filter.user === undefined || record.user === filter.user) && (filter.status === undefined || record.status === filter.status);
}
