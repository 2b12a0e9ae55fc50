import { InvalidCursorError } from '../errors.js';

const CURSOR = /^\d{13}:[A-Za-z0-9-]{1,64}$/;

/**
 * The sort key of requests and grants: creation time (fixed width) then id, so a plain
 * string order is creation order and a cursor names a position even after its record
 * is gone.
 */
export function listingKey(createdAt: number, id: string): string {
  return `${String(createdAt).padStart(13, '0')}:${id}`;
}

export function checkListingCursor(cursor: string): string {
  if (!CURSOR.test(cursor)) throw new InvalidCursorError(cursor);
  return cursor;
}

/** How long decided requests and ended grants stay listable; the audit log keeps them for good. */
export const ACCESS_RETENTION_MS = 30 * 86_400_000;

export function requestRetainedUntil(request: { expiresAt: number; decidedAt: number | null }, grantExpiresAt?: number): number {
  return Math.max(request.expiresAt, request.decidedAt ?? 0, grantExpiresAt ?? 0) + ACCESS_RETENTION_MS;
}

export function grantRetainedUntil(grant: { expiresAt: number }): number {
  return grant.expiresAt + ACCESS_RETENTION_MS;
}
