import type { EventBus } from '../stores/types.js';
import type { AccessRequestRecord, GrantRecord } from './types.js';

export const REQUEST_CHANGED = 'access_request.changed';
export const GRANT_ENDED = 'grant.ended';

export interface GrantEnded {
  grantId: string;
  userId: string;
  server: string;
  status: 'REVOKED' | 'EXPIRED';
  reason: string;
}

/**
 * Access events across instances, on the store's event bus: request changes (for the
 * `accessRequestChanged` subscription) and grant ends (for brokers to cut live sessions).
 * Hints only: they are sent after the change is durable, can be lost, and listeners
 * re-read the store for the truth.
 */
export class AccessEvents {
  constructor(private readonly bus: EventBus) {}

  requestChanged(request: AccessRequestRecord): void {
    this.bus.dispatchEvent(new CustomEvent(REQUEST_CHANGED, { detail: request }));
  }

  grantEnded(grant: GrantRecord, status: GrantEnded['status'], reason: string): void {
    const detail: GrantEnded = { grantId: grant.id, userId: grant.user.id, server: grant.server, status, reason };
    this.bus.dispatchEvent(new CustomEvent(GRANT_ENDED, { detail }));
  }

  /** Calls `listener` for every grant revoked or expired on any instance; returns the unsubscribe. */
  onGrantEnded(listener: (event: GrantEnded) => void): () => void {
    const handler = (event: Event) => listener((event as CustomEvent<GrantEnded>).detail);
    this.bus.addEventListener(GRANT_ENDED, handler);
    return () => this.bus.removeEventListener(GRANT_ENDED, handler);
  }
}
