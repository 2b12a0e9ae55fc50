import { InvalidInputError } from '../errors.js';
import type { CursorSeal } from './sealed-cursor.js';
import type { Listed } from './types.js';

const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
/** Records looked at per listing call before answering with what was found (visibility and filters). */
const MAX_SCAN = 2000;

export interface Page<T> {
  items: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/** For a store listing that hands back records the caller may not see: which they may, and how a position among the others is sealed. */
export interface HiddenRecords<T> {
  visible: (record: T) => boolean;
  cursors: CursorSeal;
  /** The listing and its caller: what a sealed cursor is good for. */
  scope: string;
}

/**
 * A page of a store's cursor listing, keeping only what `keep` accepts of what the caller
 * may see: one kept record past `first` says there is a next page. The scan is bounded, so
 * a narrow filter over a long listing answers with what it found and a cursor to go on
 * from, rather than walking the whole store in one request.
 */
export async function listedPage<T>(
  fetch: (after: string | undefined, limit: number) => Promise<Listed<T>[]>,
  keep: (record: T) => boolean,
  options: { first?: number | null; after?: string | null },
  hidden?: HiddenRecords<T>,
): Promise<Page<T>> {
  const first = options.first ?? DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw new InvalidInputError(`first must be between 1 and ${MAX_PAGE}`, 'first');
  const items: Listed<T>[] = [];
  let after = hidden ? await hidden.cursors.after(hidden.scope, options.after) : (options.after ?? undefined);
  let scanned = 0;
  let stoppedHidden = false;
  while (items.length <= first && scanned < MAX_SCAN) {
    const batch = await fetch(after, Math.max(first * 2, 50));
    if (batch.length === 0) return { items: items.map((i) => i.record), endCursor: items.at(-1)?.cursor ?? null, hasNextPage: false };
    for (const listed of batch) {
      scanned++;
      after = listed.cursor;
      stoppedHidden = hidden !== undefined && !hidden.visible(listed.record);
      if (stoppedHidden || !keep(listed.record)) continue;
      items.push(listed);
      if (items.length > first) break;
    }
  }
  const records = items.slice(0, first).map((i) => i.record);
  if (items.length > first) return { items: records, endCursor: items[first - 1]!.cursor, hasNextPage: true };
  // Past the scan budget with the page unfilled, the cursor is where scanning stopped: sealed
  // when that is a record the caller may not see, whose plain cursor would name it.
  const endCursor = hidden ? await hidden.cursors.stoppedAt(hidden.scope, after, stoppedHidden) : (after ?? null);
  return { items: records, endCursor, hasNextPage: true };
}
