import type { UserIdentity } from '../stores/types.js';

export type AccessRequestStatus = 'PENDING' | 'APPROVED' | 'DENIED' | 'CANCELLED' | 'EXPIRED';
export type ReviewDecision = 'APPROVE' | 'DENY';
export type GrantStatus = 'ACTIVE' | 'EXPIRED' | 'REVOKED';

export interface ReviewRecord {
  reviewer: UserIdentity;
  decision: ReviewDecision;
  reason: string | null;
  /** An approver's shorter duration, if any. */
  durationSeconds: number | null;
  createdAt: number;
}

export interface AccessRequestRecord {
  id: string;
  requester: UserIdentity;
  server: string;
  tools: string[];
  /** Patterns the rule excludes, carried into the grant. */
  denyTools: string[];
  reason: string;
  durationSeconds: number;
  status: AccessRequestStatus;
  reviews: ReviewRecord[];
  grantId: string | null;
  createdAt: number;
  /** When an unreviewed request lapses to EXPIRED. */
  expiresAt: number;
  decidedAt: number | null;
  /** Bumped on every change; stores compare-and-set on it. */
  version: number;
}

export interface GrantRecord {
  id: string;
  user: UserIdentity;
  server: string;
  tools: string[];
  denyTools: string[];
  requestId: string;
  issuedAt: number;
  /** Absolute: approval time + duration. Nothing extends it. */
  expiresAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
  revokeReason: string | null;
  /** Set once the expiry was recorded (grant.expired audited). */
  expiredAt: number | null;
  version: number;
}

export function grantStatus(grant: GrantRecord, now: number): GrantStatus {
  if (grant.revokedAt !== null) return 'REVOKED';
  return grant.expiresAt <= now ? 'EXPIRED' : 'ACTIVE';
}

/** A request's effective status: a PENDING one past its expiresAt is EXPIRED even before the sweeper records it. */
export function requestStatus(request: AccessRequestRecord, now: number): AccessRequestStatus {
  return request.status === 'PENDING' && request.expiresAt <= now ? 'EXPIRED' : request.status;
}
