import { z } from 'zod';

/**
 * The opaque cursor of a federated listing: for every server that has more to list, its
 * own cursor. Each page asks every such server for its next page at once, so a client that
 * reads only the first page still sees every server's first page.
 */
export type FederatedCursor = Record<string, string>;

const shape = z.record(z.string().regex(/^[a-z0-9-]{1,63}$/), z.string().max(4096));

export function encodeCursor(next: FederatedCursor): string | undefined {
  return Object.keys(next).length === 0 ? undefined : Buffer.from(JSON.stringify(next)).toString('base64url');
}

/** The cursor's per-server positions, or null when it is not one this broker issued. */
export function decodeCursor(cursor: string): FederatedCursor | null {
  if (cursor.length > 16_384) return null;
  try {
    const parsed = shape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
