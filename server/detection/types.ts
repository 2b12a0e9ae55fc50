/**
 * The outlier detector's shared vocabulary (issue 17): what it observes of an audit event,
 * the per-entity state rules keep, what a rule finds, and the anomaly records the API
 * shows. The engine (detector.ts) follows the audit log and owns state and exactly-once;
 * rules (rules/) are pure functions of an observation and the state; responses
 * (responses.ts) act on what was detected.
 */
import type { AuditEvent } from '../audit/types.js';
import type { PortcullisConfig } from '../config/schema.js';

/** Stable rule ids: config keys under `detection.rules`, `data.rule` of `anomaly.detected`, SIEM rules match on them. */
export const RULE_IDS = ['first_use_by_user', 'first_use_by_role', 'rate_spike', 'probing', 'breadth', 'off_hours', 'large_payload', 'new_client'] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** What an anomaly's response did (config `detection.responses[].action`). */
export const RESPONSE_ACTIONS = ['record', 'suspend_session', 'revoke_grant'] as const;
export type ResponseAction = (typeof RESPONSE_ACTIONS)[number];

/**
 * Why a request was refused, for the probing rule (from `data.reason` and the event type).
 * `unknown_name`: it named a prompt, resource, task or completion reference that no server
 * of the session has.
 */
export type DenialKind = 'not_granted' | 'unknown_name' | 'token_refused' | 'upgrade_refused' | 'argument_not_allowed' | 'rate_limited' | 'other';

/**
 * What the detector reads of one audit event (observe.ts derives it; events that concern
 * no user yield none). Times are the event's own (`event.time`), never the wall clock, so
 * a replay after a restart judges exactly as the first pass did.
 */
export interface Observation {
  event: AuditEvent;
  /** Event time, ms since the epoch. */
  at: number;
  /** The acting user's email. */
  user: string;
  kind: 'call' | 'denial' | 'session' | 'result';
  server: string | null;
  /** The tool of a tools/call (or of a refused one). */
  tool: string | null;
  /** The JSON-RPC method of an `mcp.request`. */
  method: string | null;
  /** The role the grant behind an allowed call was issued under (its rule's `<role>/…`), when known. */
  role: string | null;
  /** The grant behind an allowed call (`data.grantId`). */
  grantId: string | null;
  /** The MCP client as it introduced itself (initialize's clientInfo), or the OAuth client, when the event names one. */
  client: { name: string; version: string | null; oauthClientId: string | null } | null;
  /** Bytes of the call's params as recorded (before any cut: `paramsTruncated.bytes` when cut). */
  paramsBytes: number | null;
  /** Bytes of a tool result (`mcp.response`). */
  resultBytes: number | null;
  /**
   * A digest of what an allowed request asked for: a tools/call's arguments as sent
   * (`data.argumentsDigest`), a resources/read's URI, a prompts/get's name and arguments.
   * Breadth counts distinct ones per tool, and those of reads and prompts per server. For
   * an `unknown_name` denial, of the name refused with the reason: probing counts distinct ones.
   */
  argumentsDigest: string | null;
  /** Set for kind `denial`. */
  denial: DenialKind | null;
}

/**
 * One entity's learned state (`user:<email>`, `tool:<server>/<tool>` as toolId names it, `role:<role>`): JSON,
 * stored by DetectorStateStore. Each rule keeps its own part under `slots[ruleId]`, bounded
 * by the rule (a rule that forgets the oldest keeps a fixed size).
 */
export interface EntityState {
  /** Event time the entity was first seen: the warm-up counts from here. */
  firstSeen: number;
  lastSeen: number;
  /** Observations of this entity so far. */
  count: number;
  slots: Partial<Record<RuleId, unknown>>;
  /** A person's tag (person-tag.ts), once computed. */
  tag?: string;
  /** A tool only one person has used so far: their tag (entity-budgets.ts ranks such a tool first out). */
  soleUser?: string;
}

export type EntityKind = 'user' | 'tool' | 'role';

export function entityKey(kind: EntityKind, name: string): string {
  return `${kind}:${name}`;
}

/**
 * A tool as detection knows it (its entity, a person's and a role's known tools, breadth's
 * count): `<server>/<tool>`, the name ASCII-lowercased. Many servers look tools up without
 * regard to case, so `EXPORT_data` runs `export_data`: keyed as sent, each variant had a
 * fresh baseline of its own, where an outsized call went unjudged. ASCII letters only: a
 * full Unicode fold depends on the runtime's Unicode version (a stored key could change
 * with Node), and folds letters (`İ`, the Kelvin sign) that servers rarely fold alike.
 */
export function toolId(server: string, tool: string): string {
  return `${server}/${tool.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())}`;
}

/** What a rule found: enough for a person to judge it without reading code. */
export interface Finding {
  rule: RuleId;
  severity: Severity;
  /** How far past its threshold, comparable within a rule (1 = at the threshold). */
  score: number;
  /** One sentence: what was seen, against what, and why it matters. */
  summary: string;
  observed: Record<string, unknown>;
  baseline: Record<string, unknown>;
  /** Audit cursors of the events that triggered it (the last is the observation's own), at most MAX_FINDING_EVENTS. */
  eventIds: string[];
}

export const MAX_FINDING_EVENTS = 20;

/** A finding raised on an observation: its id is derived from the rule and the triggering event, so a replay derives the same one. */
export interface Detection extends Finding {
  id: string;
  /** Time of the triggering event (ISO-8601). */
  at: string;
  user: string;
  server: string | null;
  tool: string | null;
  sessionId: string | null;
  /** The grant behind the triggering call, when there was one: what `revoke_grant` revokes. */
  grantId: string | null;
}

export type AnomalyStatus = 'open' | 'acknowledged';

/** A detection as the API lists it, with what was done about it. */
export interface AnomalyRecord extends Detection {
  status: AnomalyStatus;
  /** Cursor of its `anomaly.detected` event. */
  auditEventId: string;
  /** The responses taken (each audited as `anomaly.response`). */
  responses: { action: ResponseAction; outcome: 'SUCCESS' | 'ERROR'; detail: string | null }[];
  acknowledgedBy: string | null;
  acknowledgedAt: number | null;
  note: string | null;
  version: number;
}

/** A known cause silenced: no anomaly is raised for this user and rule until it expires. */
export interface Suppression {
  id: string;
  user: string;
  rule: RuleId;
  reason: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
}

/** What a rule is given beside the observation: the loaded entity states (mutable: the rule updates its slot) and its settings. */
export interface RuleContext {
  /** The user's state; `warm` once it is past `detection.warmup` (by its own history, a user is judged only then). */
  user: EntityState;
  warm: boolean;
  /** `tool:<server>/<tool>` (toolId) for a call the grants let through, or its result, when it names a tool (never for a refusal: its name is the client's). */
  tool: EntityState | null;
  /** `role:<role>` when the observation's role is known. */
  role: EntityState | null;
  config: DetectionConfig;
}

/**
 * A detection rule: learns from every observation (updating its slot in the states it
 * is given) and returns a finding when this one is an outlier. Pure and synchronous: the
 * engine loads and saves state, so a rule costs microseconds and replays identically.
 */
export interface DetectionRule {
  readonly id: RuleId;
  /**
   * Judged from a person's first event: the rule compares them with a fixed threshold, or a
   * tool's or a role's history, never their own, so their warm-up teaches it nothing. Unset,
   * its findings on a user still in the warm-up are dropped. Set, a new account (or one idle
   * past `stateTtlDays`, whose state starts over) cannot probe or sweep unflagged for a week.
   */
  readonly judgesNewcomers?: boolean;
  evaluate(observation: Observation, context: RuleContext): Finding | null;
}

export type DetectionConfig = PortcullisConfig['detection'];

/** What a previous evaluator already did for a detection, as the detector's recovery scan read it back from the log. */
export interface RaisedBefore {
  /** Cursor of its `anomaly.detected` event, when one was appended. */
  detectedEventId: string | null;
  /** Whether an `anomaly.response` was appended with SUCCESS (one that ended in ERROR is taken again). */
  responded: boolean;
}

/**
 * Where the detector hands its detections (anomalies.ts): each is raised exactly once
 * across instances and restarts, in log order.
 */
export interface AnomalyRaiser {
  /** Whether a live suppression silences this user and rule now. */
  isSuppressed(user: string, rule: RuleId): Promise<boolean>;
  /**
   * Appends `anomaly.detected`, stores the anomaly record and applies the configured
   * response (each audited as `anomaly.response`), skipping what `before` says was done.
   */
  raise(detection: Detection, before: RaisedBefore): Promise<void>;
}
