import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { AnomalyRecord, Suppression } from '../../server/detection/types.js';
import { RULE_IDS } from '../../server/detection/types.js';
import { AuditOutcome } from '../audit/audit.types.js';
import { PageInfo } from '../common/page-info.js';

export enum AnomalySeverity {
  LOW = 'low',
  MEDIUM = 'medium',
  HIGH = 'high',
  CRITICAL = 'critical',
}
registerEnumType(AnomalySeverity, { name: 'AnomalySeverity' });

export enum AnomalyStatus {
  OPEN = 'open',
  ACKNOWLEDGED = 'acknowledged',
}
registerEnumType(AnomalyStatus, { name: 'AnomalyStatus', description: 'OPEN until someone acknowledges it.' });

const RULE_DESCRIPTION = `The detection rule, as audit data and config name it: ${RULE_IDS.join(', ')}.`;

@ObjectType({ description: 'What a response to an anomaly did (each audited as anomaly.response).' })
export class AnomalyResponse {
  @Field(() => String, { description: 'record, suspend_session or revoke_grant.' })
  action!: string;

  @Field(() => AuditOutcome)
  outcome!: AuditOutcome;

  @Field(() => String, { nullable: true })
  detail!: string | null;
}

@ObjectType({ description: 'An outlier the detector raised: what was seen, against which baseline, and the events that triggered it. Auditors only.' })
export class Anomaly {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: RULE_DESCRIPTION })
  rule!: string;

  @Field(() => AnomalySeverity)
  severity!: AnomalySeverity;

  @Field(() => Float, { description: 'How far past its threshold (1 = at it); comparable within a rule.' })
  score!: number;

  @Field(() => String, { description: 'One sentence: what was seen, against what, and why it matters.' })
  summary!: string;

  @Field(() => String, { description: "The user's email." })
  user!: string;

  @Field(() => String, { nullable: true })
  server!: string | null;

  @Field(() => String, { nullable: true })
  tool!: string | null;

  @Field(() => String, { nullable: true, description: 'The MCP session of the triggering call (the audit view filters on it).' })
  sessionId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The grant behind the triggering call, when there was one.' })
  grantId!: string | null;

  @Field(() => GraphQLISODateTime, { description: 'Time of the triggering event.' })
  at!: Date;

  @Field(() => GraphQLJSON, { description: 'The values the rule measured.' })
  observed!: Record<string, unknown>;

  @Field(() => GraphQLJSON, { description: 'What they were compared with (a threshold, or the learned baseline).' })
  baseline!: Record<string, unknown>;

  @Field(() => ID, { description: 'Cursor of its anomaly.detected audit event.' })
  auditEventId!: string;

  @Field(() => AnomalyStatus)
  status!: AnomalyStatus;

  @Field(() => [AnomalyResponse], { description: 'The responses taken (record only, suspended session, revoked grant).' })
  responses!: AnomalyResponse[];

  @Field(() => String, { nullable: true })
  acknowledgedBy!: string | null;

  @Field(() => GraphQLISODateTime, { nullable: true })
  acknowledgedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'What the acknowledger wrote.' })
  note!: string | null;

  /** Kept for the field resolvers; not a field. */
  record!: AnomalyRecord;

  static from(record: AnomalyRecord): Anomaly {
    return Object.assign(new Anomaly(), {
      ...record,
      severity: record.severity as AnomalySeverity,
      status: record.status as AnomalyStatus,
      at: new Date(record.at),
      acknowledgedAt: record.acknowledgedAt === null ? null : new Date(record.acknowledgedAt),
      responses: record.responses.map((r) => Object.assign(new AnomalyResponse(), { ...r, outcome: r.outcome as AuditOutcome })),
      record,
    });
  }
}

@ObjectType()
export class AnomalyPage {
  @Field(() => [Anomaly])
  items!: Anomaly[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@InputType()
export class AnomalyFilter {
  @Field(() => AnomalyStatus, { nullable: true })
  status?: AnomalyStatus | null;

  @Field(() => String, { nullable: true, description: "Anomalies about this user (email)." })
  user?: string | null;

  @Field(() => String, { nullable: true, description: RULE_DESCRIPTION })
  rule?: string | null;

  @Field(() => AnomalySeverity, { nullable: true, description: 'This severity or above.' })
  severityAtLeast?: AnomalySeverity | null;
}

@ObjectType({ description: 'A known cause silenced: no anomaly is raised for this user and rule until it expires.' })
export class AnomalySuppression {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  user!: string;

  @Field(() => String, { description: RULE_DESCRIPTION })
  rule!: string;

  @Field(() => String)
  reason!: string;

  @Field(() => String)
  createdBy!: string;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;

  static from(suppression: Suppression): AnomalySuppression {
    return Object.assign(new AnomalySuppression(), { ...suppression, createdAt: new Date(suppression.createdAt), expiresAt: new Date(suppression.expiresAt) });
  }
}

@InputType()
export class SuppressAnomaliesInput {
  @Field(() => String, { description: "The user's email." })
  user!: string;

  @Field(() => String, { description: RULE_DESCRIPTION })
  rule!: string;

  @Field(() => Int, { description: 'How long, from now: at most 7776000 (90 days).' })
  durationSeconds!: number;

  @Field(() => String, { description: 'The known cause (required; audited).' })
  reason!: string;
}
