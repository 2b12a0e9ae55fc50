import { busTopic } from '../stores/bus-topic.js';
import type { BusTopic } from '../stores/bus-topic.js';
import type { EventBus } from '../stores/types.js';
import type { AccessRequestRecord, GrantRecord } from './types.js';

export const REQUEST_CHANGED = 'access_request.changed';
export const GRANT_ENDED = 'grant.ended';
export const GRANT_CHANGED = 'grant.changed';
export const TOOL_CHANGE_ACCEPTED = 'tool_change.accepted';
export const SESSIONS_SUSPENDED = 'mcp_sessions.suspended';

/** A reviewer accepted a tool's new definition: it is pinned now. */
export interface ToolChangeAccepted {
  server: string;
  tool: string;
  hash: string;
}

/**
 * An anomaly's response cut MCP sessions: the one named, or every live one of the user
 * (null). The grants stay: the person may connect again.
 */
export interface SessionsSuspended {
  anomalyId: string;
  /** The user's email (what the audit log and the detector name people by). */
  user: string;
  sessionId: string | null;
}

export interface GrantEnded {
  grantId: string;
  userId: string;
  server: string;
  status: 'REVOKED' | 'EXPIRED';
  reason: string;
}

/**
 * Access events across instances, on the store's event bus: request changes (for the
 * `accessRequestChanged` subscription), grant ends (for brokers to cut live sessions) and
 * grants as they are issued and end (for the `grantChanged` subscription), tool changes
 * accepted (for brokers to show the tool again), and sessions an anomaly suspends (for
 * brokers to cut them, on whichever instance holds them).
 * Hints only: they are sent after the change is durable, can be lost, and listeners
 * re-read the store for the truth.
 */
export class AccessEvents {
  private readonly requests: BusTopic<AccessRequestRecord>;
  private readonly grantEnds: BusTopic<GrantEnded>;
  private readonly grants: BusTopic<GrantRecord>;
  private readonly toolChanges: BusTopic<ToolChangeAccepted>;
  private readonly suspensions: BusTopic<SessionsSuspended>;

  constructor(bus: EventBus) {
    this.requests = busTopic(bus, REQUEST_CHANGED);
    this.grantEnds = busTopic(bus, GRANT_ENDED);
    this.grants = busTopic(bus, GRANT_CHANGED);
    this.toolChanges = busTopic(bus, TOOL_CHANGE_ACCEPTED);
    this.suspensions = busTopic(bus, SESSIONS_SUSPENDED);
  }

  sessionsSuspended(suspended: SessionsSuspended): void {
    this.suspensions.publish(suspended);
  }

  /** Calls `listener` for every suspension on any instance (brokers close the sessions they hold); returns the unsubscribe. */
  onSessionsSuspended(listener: (suspended: SessionsSuspended) => void): () => void {
    return this.suspensions.subscribe(listener);
  }

  toolChangeAccepted(accepted: ToolChangeAccepted): void {
    this.toolChanges.publish(accepted);
  }

  /** Calls `listener` for every tool change accepted on any instance (brokers re-pin and tell live sessions); returns the unsubscribe. */
  onToolChangeAccepted(listener: (accepted: ToolChangeAccepted) => void): () => void {
    return this.toolChanges.subscribe(listener);
  }

  requestChanged(request: AccessRequestRecord): void {
    this.requests.publish(request);
  }

  grantIssued(grant: GrantRecord): void {
    this.grants.publish(grant);
  }

  /** `grant` as it ended (revokedAt or expiredAt set). */
  grantEnded(grant: GrantRecord, status: GrantEnded['status'], reason: string): void {
    this.grantEnds.publish({ grantId: grant.id, userId: grant.user.id, server: grant.server, status, reason });
    this.grants.publish(grant);
  }

  /** Calls `listener` for every request change on any instance (approvals carry the grant id); returns the unsubscribe. */
  onRequestChanged(listener: (request: AccessRequestRecord) => void): () => void {
    return this.requests.subscribe(listener);
  }

  /** Calls `listener` for every grant revoked or expired on any instance; returns the unsubscribe. */
  onGrantEnded(listener: (event: GrantEnded) => void): () => void {
    return this.grantEnds.subscribe(listener);
  }
}
