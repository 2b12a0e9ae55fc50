import { GraphQLJSON } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { AuditEvent as AuditEventRecord } from '../../server/audit/types.js';
import type { VerifyReport } from '../../server/audit/verify.js';
import { PageInfo } from '../common/page-info.js';

export enum AuditOutcome {
  SUCCESS = 'SUCCESS',
  DENIED = 'DENIED',
  ERROR = 'ERROR',
}
registerEnumType(AuditOutcome, { name: 'AuditOutcome' });

export enum AuditOrder {
  OLDEST_FIRST = 'OLDEST_FIRST',
  NEWEST_FIRST = 'NEWEST_FIRST',
}
registerEnumType(AuditOrder, { name: 'AuditOrder', description: 'Which way auditEvents reads the log.' });

@ObjectType({ description: 'One entry of the tamper-evident audit log.' })
export class AuditEvent {
  @Field(() => ID, { description: 'Stream cursor: strictly increasing, usable as `after`.' })
  id!: string;

  @Field(() => String)
  type!: string;

  @Field(() => GraphQLISODateTime)
  time!: Date;

  @Field(() => AuditOutcome)
  outcome!: AuditOutcome;

  @Field(() => String, { nullable: true, description: "The acting user's email (a token acts as its owner); null for the system itself." })
  actor!: string | null;

  @Field(() => String, { nullable: true })
  server!: string | null;

  @Field(() => String, { nullable: true })
  tool!: string | null;

  @Field(() => String, { nullable: true })
  sessionId!: string | null;

  @Field(() => GraphQLJSON)
  data!: Record<string, unknown>;

  @Field(() => String, { description: 'Hash chaining this event to the previous one (tamper evidence).' })
  hash!: string;

  @Field(() => String, { description: "The previous event's hash, which this event's hash covers." })
  prevHash!: string;

  static from(event: AuditEventRecord): AuditEvent {
    return Object.assign(new AuditEvent(), { ...event, time: new Date(event.time), outcome: event.outcome as AuditOutcome });
  }
}

@ObjectType()
export class AuditEventPage {
  @Field(() => [AuditEvent])
  items!: AuditEvent[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@InputType()
export class AuditFilter {
  @Field(() => [String], { nullable: true })
  types?: string[] | null;

  @Field(() => String, { nullable: true })
  actor?: string | null;

  @Field(() => String, { nullable: true })
  server?: string | null;

  @Field(() => AuditOutcome, { nullable: true })
  outcome?: AuditOutcome | null;

  @Field(() => GraphQLISODateTime, { nullable: true })
  since?: Date | null;

  @Field(() => GraphQLISODateTime, { nullable: true })
  until?: Date | null;

  @Field(() => String, { nullable: true, description: 'Events about this tool (as the server names it).' })
  tool?: string | null;

  @Field(() => String, { nullable: true, description: 'Events of one MCP session.' })
  sessionId?: string | null;
}

@ObjectType({ description: 'The result of walking the audit hash chain (and its signed checkpoints, when keys are configured).' })
export class AuditChainVerification {
  @Field(() => Boolean, { description: 'No broken link: every event chains to its predecessor and its hash covers its content.' })
  intact!: boolean;

  @Field(() => Int, { description: 'Events walked (up to the break, when broken).' })
  events!: number;

  @Field(() => String, { nullable: true, description: 'Cursor of the last event that verified.' })
  lastId!: string | null;

  @Field(() => String, { description: 'Hash of the last event that verified (the chain head when intact).' })
  lastHash!: string;

  @Field(() => Int, { description: 'Checkpoints seen.' })
  checkpoints!: number;

  @Field(() => Boolean, { description: "Checkpoints' signatures were checked (checkpoints are configured on this broker)." })
  checkpointsVerified!: boolean;

  @Field(() => GraphQLISODateTime, { nullable: true })
  lastCheckpointAt!: Date | null;

  @Field(() => Int, { description: 'Events after the last checkpoint (all of them without one): not yet sealed.' })
  eventsAfterLastCheckpoint!: number;

  @Field(() => String, { nullable: true, description: 'Event id of the first broken link.' })
  brokenAt!: string | null;

  @Field(() => Int, { nullable: true, description: 'Its position in the walk (1 = the first event).' })
  brokenPosition!: number | null;

  @Field(() => String, { nullable: true, description: 'Why the chain does not hold there.' })
  brokenReason!: string | null;

  static from(report: VerifyReport): AuditChainVerification {
    return Object.assign(new AuditChainVerification(), {
      intact: report.broken === null,
      events: report.events,
      lastId: report.lastId,
      lastHash: report.lastHash,
      checkpoints: report.checkpoints.count,
      checkpointsVerified: report.checkpoints.verified,
      lastCheckpointAt: report.checkpoints.lastTime === null ? null : new Date(report.checkpoints.lastTime),
      eventsAfterLastCheckpoint: report.checkpoints.eventsAfter,
      brokenAt: report.broken?.id ?? null,
      brokenPosition: report.broken?.position ?? null,
      brokenReason: report.broken?.reason ?? null,
    });
  }
}
