import { GraphQLJSON } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import type { AuditEvent as AuditEventRecord } from '../../server/audit/types.js';
import { PageInfo } from '../common/page-info.js';

export enum AuditOutcome {
  SUCCESS = 'SUCCESS',
  DENIED = 'DENIED',
  ERROR = 'ERROR',
}
registerEnumType(AuditOutcome, { name: 'AuditOutcome' });

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
}
