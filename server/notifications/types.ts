/**
 * Notifications (issue 19): the vocabulary shared by the dispatcher, which follows the
 * audit log from a stored cursor and keeps a durable outbox of deliveries, and the sinks
 * (webhook, Slack, email), each of which only turns one delivery into one message and
 * reports how it went. A sink never sees a tool call's parameters nor any credential:
 * it is handed a NotificationEvent, built from the audit event by the dispatcher.
 */
import type { AuditEvent } from '../audit/types.js';

/** What a message may say of an audit event: its type, time, actor and the fields below, nothing else of `data`. */
export interface NotificationEvent {
  /** The audit event's id (stream cursor): with the sink's name, the delivery's id. */
  id: string;
  type: AuditEvent['type'];
  time: string;
  actor: string | null;
  /** For access_request.* events: the request as a reviewer needs to see it. */
  request?: {
    id: string;
    requester: string;
    server: string;
    tools: string[];
    /** This and the three below are absent from deliveries an older version queued. */
    resources?: string[];
    prompts?: string[];
    /** Only tools that are read-only. */
    readOnly?: boolean;
    /** Set when a model filed it from inside an MCP client (a prompt-injected one could have): the client as it named itself, unverified. */
    filedByAgent?: { client: string | null } | null;
    durationSeconds: number;
    reason: string;
    status: string;
  };
  /** For anomaly.* events. */
  anomaly?: { id: string; rule: string; severity: string; user: string; summary: string };
  /** Console links (absolute, under server.publicUrl). */
  links: { console: string; approve?: string; deny?: string };
}

/** One message owed to one sink for one event: its id is stable (`<sink>:<event id>`) so a receiver can de-duplicate. */
export interface Delivery {
  id: string;
  sink: string;
  event: NotificationEvent;
  /** 1 for the first try. */
  attempt: number;
  /** What an earlier delivery of this sink left for later ones of the same subject (e.g. a Slack message's `ts`, to update it). */
  memo: Record<string, string> | null;
  /** Who should be told, when the sink addresses people (email): the reviewers whose rules cover the request. */
  recipients: string[];
}

export type DeliveryOutcome =
  | { ok: true; /** Kept for later deliveries of the same subject (see Delivery.memo). */ memo?: Record<string, string> }
  /** `retry: false`: the receiver refused for good (4xx other than 408/429): straight to the dead letters. */
  | { ok: false; retry: boolean; /** Fixed words or a status code, never a secret nor the receiver's body. */ error: string };

/** A configured sink: pure delivery, no retry or storage of its own (the dispatcher owns both). */
export interface NotificationSink {
  readonly name: string;
  /**
   * Its deliveries leave a memo that later ones of the same subject build on (a Slack bot's
   * message, updated): those wait while the subject's first delivery is pending. Other sinks'
   * deliveries run side by side in any order.
   */
  readonly keepsMemo?: boolean;
  deliver(delivery: Delivery, signal: AbortSignal): Promise<DeliveryOutcome>;
}
