import { InvalidCursorError } from '../errors.js';

/** Ids a listing can carry in its cursors: our own (UUIDs, `an_…` anomaly ids); anything else in a cursor was not issued here. */
export const LISTING_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CURSOR = new RegExp(`^\\d{13}:${LISTING_ID.source.slice(1)}`);

/**
 * The sort key of requests, grants and anomalies: creation time (fixed width) then id, so a plain
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
