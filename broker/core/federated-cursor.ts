import { randomBytes } from 'node:crypto';

/**
 * The cursors of a federated session's listings. A cursor stands for the position of
 * every server that has more to list (its own cursor, however long) and for the listing it
 * continues; the client only ever holds a short random handle. Each page asks every such
 * server for its next page at once, so a client that reads only the first page still sees
 * every server's first page.
 */
export type Positions = Record<string, string>;

/** Handles a session keeps; the oldest go first (a client walks one listing at a time). */
const MAX_CURSORS = 256;

export class FederatedCursors {
  private readonly cursors = new Map<string, { method: string; positions: Positions }>();

  /** A handle for the positions after this page; undefined when no server has more. */
  issue(method: string, positions: Positions): string | undefined {
    if (Object.keys(positions).length === 0) return undefined;
    const handle = randomBytes(12).toString('base64url');
    this.cursors.set(handle, { method, positions });
    if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
    return handle;
  }

  /** The positions a handle stands for, or null when this session issued no such cursor for this listing. */
  positions(method: string, handle: string): Positions | null {
    const entry = this.cursors.get(handle);
    return entry && entry.method === method ? entry.positions : null;
  }
}
