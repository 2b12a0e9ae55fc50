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
  /** An approver's narrower argument rules, per tool (added to the request's, never replacing them). */
  arguments?: Record<string, Record<string, unknown>>;
  createdAt: number;
}

/**
 * What a request asks for on its server, and so what its grant allows: tools, resources
 * (URI patterns) and prompts, each with the patterns its rule excludes, read-only or not,
 * and per-tool argument rules. Nothing else on the server is allowed.
 */
export interface AccessScope {
  /** The config rule it was asked under (`<role>/request/<index>`): what a refusal names. Null for records older than labels. */
  rule: string | null;
  tools: string[];
  /** Patterns the rule excludes, carried into the grant. */
  denyTools: string[];
  resources: string[];
  denyResources: string[];
  prompts: string[];
  denyPrompts: string[];
  /** Only tools that are read-only (by their annotations when granted, or the operator's list). */
  readOnly: boolean;
  /** Per tool name, JSON Schemas its arguments must all satisfy (the rule's, then each approver's). */
  arguments: Record<string, Record<string, unknown>[]>;
}

/**
 * A request a model filed from inside an MCP client (the broker tool `portcullis__request_access`):
 * a prompt-injected model could file it, so reviewers are told, and it is never approved
 * automatically unless the operator allows it.
 */
export interface FiledByAgent {
  /** The MCP client's name as it introduced itself (clientInfo.name), unverified. */
  client: string | null;
  sessionId: string;
}

export interface AccessRequestRecord extends AccessScope {
  id: string;
  requester: UserIdentity;
  /** Set when an agent filed it; absent or null when the person did (records before issue 15 have none). */
  filedByAgent?: FiledByAgent | null;
  server: string;
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

export interface GrantRecord extends AccessScope {
  id: string;
  user: UserIdentity;
  server: string;
  /**
   * For a read-only grant, the tools that were read-only when it was issued (as the
   * server described them then, or the operator's list): a server cannot make a tool
   * read-only later by changing its annotations. Null for other grants.
   */
  readOnlyTools: string[] | null;
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

/** A record written before resources, prompts, read-only grants and argument rules existed: it allows tools only (issue 14 migration). */
export function withScopeDefaults<T extends Partial<AccessScope>>(record: T): T & AccessScope {
  return {
    ...record,
    rule: record.rule ?? null,
    tools: record.tools ?? [],
    denyTools: record.denyTools ?? [],
    resources: record.resources ?? [],
    denyResources: record.denyResources ?? [],
    prompts: record.prompts ?? [],
    denyPrompts: record.denyPrompts ?? [],
    readOnly: record.readOnly ?? false,
    arguments: record.arguments ?? {},
  };
}
