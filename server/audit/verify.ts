import { GENESIS_HASH, hashEvent } from './chain.js';
import type { AuditEvent } from './types.js';

export interface VerifyReport {
  events: number;
  lastId: string | null;
  lastHash: string;
  /** The first broken link, or null when the chain is whole. */
  broken: { id: string; position: number; reason: string } | null;
}

/**
 * Walks the chain page by page (constant memory, however long the log): each event's
 * hash must cover its content and its predecessor's hash. Stops at the first break,
 * naming the event where the chain no longer holds.
 */
export async function verifyChain(pages: AsyncIterable<readonly AuditEvent[]> | Iterable<readonly AuditEvent[]>, firstPrevHash = GENESIS_HASH): Promise<VerifyReport> {
  let prev = firstPrevHash;
  let count = 0;
  let lastId: string | null = null;
  for await (const page of pages) {
    for (const event of page) {
      count++;
      if (event.prevHash !== prev) return { events: count, lastId, lastHash: prev, broken: { id: event.id, position: count, reason: 'previous hash does not match: an event before it was removed, added or reordered' } };
      if (hashEvent(event) !== event.hash) return { events: count, lastId, lastHash: prev, broken: { id: event.id, position: count, reason: 'hash does not match its content: the event was edited' } };
      prev = event.hash;
      lastId = event.id;
    }
  }
  return { events: count, lastId, lastHash: prev, broken: null };
}

/** Pages of a log read through its cursor API. */
export async function* pagesOf(read: (after: string | undefined) => Promise<readonly AuditEvent[]>): AsyncIterable<readonly AuditEvent[]> {
  let after: string | undefined;
  for (;;) {
    const page = await read(after);
    if (page.length === 0) return;
    yield page;
    after = page.at(-1)!.id;
  }
}
