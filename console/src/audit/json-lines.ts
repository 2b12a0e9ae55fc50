/**
 * Export of the audit log as JSON lines (one event per line, as the API returns it, the
 * same shape `portcullis audit tail` writes), paged through the API so the browser never
 * asks for the whole log at once.
 */

export interface ExportPage<T> {
  items: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/** One event per line; client-side bookkeeping (`__typename`) left out. */
export function toJsonLines(events: readonly object[]): string {
  return events.map((event) => `${JSON.stringify(withoutTypename(event))}\n`).join('');
}

function withoutTypename(event: object): object {
  if (!('__typename' in event)) return event;
  const { __typename: _typename, ...rest } = event as Record<string, unknown>;
  return rest;
}

/**
 * Pages through `fetchPage` from the start of the filter, returning one chunk of lines
 * per page (Blob parts: the lines are never joined into one huge string).
 */
export async function collectJsonLines<T extends object>(
  fetchPage: (after: string | null) => Promise<ExportPage<T>>,
  options: { onProgress?: (events: number) => void; signal?: AbortSignal } = {},
): Promise<string[]> {
  const chunks: string[] = [];
  let after: string | null = null;
  let events = 0;
  for (;;) {
    if (options.signal?.aborted) throw new DOMException('export cancelled', 'AbortError');
    const page: ExportPage<T> = await fetchPage(after);
    if (page.items.length > 0) chunks.push(toJsonLines(page.items));
    events += page.items.length;
    options.onProgress?.(events);
    if (!page.hasNextPage) return chunks;
    // A page may be empty and still have a next one (the server scans so many events a
    // request; a narrow filter finds none among them): go on while its cursor moves. One
    // that does not would loop for ever, and stopping there would pass a part for the whole.
    if (!page.endCursor || page.endCursor === after) throw new Error('the server said there is more but gave no cursor to go on from: the export is incomplete');
    after = page.endCursor;
  }
}

/** `portcullis-audit-20261129T214424Z.jsonl`: sortable, and no characters a file system refuses. */
export function exportFileName(now: Date): string {
  return `portcullis-audit-${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z.jsonl`;
}
