import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType } from 'type-graphql';
import type { AccessRequestRecord, GrantRecord, ReviewRecord } from '../../server/access/types.js';
import { grantStatus, requestStatus } from '../../server/access/types.js';
import type { RoleConfig } from '../../server/config/schema.js';
import { rolesOf } from '../../server/identity/principal.js';
import { PageInfo } from '../common/page-info.js';
import { User } from '../identity/user.type.js';
import { AccessRequestStatus, GrantStatus, ReviewDecision } from './enums.js';

@ObjectType()
export class Review {
  @Field(() => User)
  reviewer!: User;

  @Field(() => ReviewDecision)
  decision!: ReviewDecision;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => Int, { nullable: true, description: 'The shorter duration this approver allowed, if any.' })
  durationSeconds!: number | null;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  static from(record: ReviewRecord, roles: readonly RoleConfig[]): Review {
    return Object.assign(new Review(), {
      reviewer: User.of(record.reviewer, rolesOf(record.reviewer, roles)),
      decision: record.decision as ReviewDecision,
      reason: record.reason,
      durationSeconds: record.durationSeconds,
      createdAt: new Date(record.createdAt),
    });
  }
}

@ObjectType({ description: 'A request for time-boxed access to an MCP server (or some of its tools).' })
export class AccessRequest {
  @Field(() => ID)
  id!: string;

  @Field(() => User)
  requester!: User;

  @Field(() => String)
  server!: string;

  @Field(() => [String], { description: 'Tool name patterns requested.' })
  tools!: string[];

  @Field(() => [String], { description: 'Patterns the granting rule excludes; carried into the grant.' })
  deniedTools!: string[];

  @Field(() => String)
  reason!: string;

  @Field(() => Int)
  durationSeconds!: number;

  @Field(() => AccessRequestStatus)
  status!: AccessRequestStatus;

  @Field(() => [Review])
  reviews!: Review[];

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime, { description: 'When a request that nobody reviewed lapses to EXPIRED.' })
  expiresAt!: Date;

  /** Not a field: the grant field resolves it with the caller's visibility. */
  grantId!: string | null;

  static from(record: AccessRequestRecord, now: number, roles: readonly RoleConfig[]): AccessRequest {
    return Object.assign(new AccessRequest(), {
      id: record.id,
      requester: User.of(record.requester, rolesOf(record.requester, roles)),
      server: record.server,
      tools: record.tools,
      deniedTools: record.denyTools,
      reason: record.reason,
      durationSeconds: record.durationSeconds,
      status: requestStatus(record, now) as AccessRequestStatus,
      reviews: record.reviews.map((r) => Review.from(r, roles)),
      createdAt: new Date(record.createdAt),
      expiresAt: new Date(record.expiresAt),
      grantId: record.grantId,
    });
  }
}

@ObjectType({ description: 'Time-boxed access to an MCP server, issued from an approved request.' })
export class Grant {
  @Field(() => ID)
  id!: string;

  @Field(() => User)
  user!: User;

  @Field(() => String)
  server!: string;

  @Field(() => [String], { description: 'Tool name patterns this grant allows on the server.' })
  tools!: string[];

  @Field(() => [String], { description: 'Tool name patterns excluded even where `tools` match.' })
  deniedTools!: string[];

  @Field(() => GrantStatus)
  status!: GrantStatus;

  @Field(() => GraphQLISODateTime)
  issuedAt!: Date;

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;

  @Field(() => GraphQLISODateTime, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why it was revoked, when it was.' })
  revokeReason!: string | null;

  /** Not a field: the request field resolves it with the caller's visibility. */
  requestId!: string;

  static from(record: GrantRecord, now: number, roles: readonly RoleConfig[]): Grant {
    return Object.assign(new Grant(), {
      id: record.id,
      user: User.of(record.user, rolesOf(record.user, roles)),
      server: record.server,
      tools: record.tools,
      deniedTools: record.denyTools,
      status: grantStatus(record, now) as GrantStatus,
      issuedAt: new Date(record.issuedAt),
      expiresAt: new Date(record.expiresAt),
      revokedAt: record.revokedAt === null ? null : new Date(record.revokedAt),
      revokeReason: record.revokeReason,
      requestId: record.requestId,
    });
  }
}

@ObjectType()
export class AccessRequestPage {
  @Field(() => [AccessRequest])
  items!: AccessRequest[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType()
export class GrantPage {
  @Field(() => [Grant])
  items!: Grant[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType({ description: 'An upstream MCP server as the caller may see it.' })
export class McpServer {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => String, { description: 'stdio or streamable-http.' })
  transport!: string;

  @Field(() => [String], { description: 'Tool patterns the caller may request on this server (empty: not requestable).' })
  requestableTools!: string[];

  @Field(() => [String], { description: 'Tool patterns the caller may review requests for (empty: not a reviewer here).' })
  reviewableTools!: string[];
}

@InputType()
export class CreateAccessRequestInput {
  @Field(() => String)
  server!: string;

  @Field(() => [String], { nullable: true, description: 'Tool name patterns; omitted: every tool the requester may request on the server.' })
  tools?: string[] | null;

  @Field(() => String)
  reason!: string;

  @Field(() => Int)
  durationSeconds!: number;
}

@InputType()
export class ReviewAccessRequestInput {
  @Field(() => ID)
  requestId!: string;

  @Field(() => ReviewDecision)
  decision!: ReviewDecision;

  @Field(() => String, { nullable: true })
  reason?: string | null;

  @Field(() => Int, { nullable: true, description: 'Approvers may shorten, never lengthen, the requested duration.' })
  durationSeconds?: number | null;
}
