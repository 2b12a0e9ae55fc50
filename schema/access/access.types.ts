import { GraphQLJSON } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType } from 'type-graphql';
import { CompiledGrant } from '../../server/access/grant-decision.js';
import type { AccessRequestRecord, AccessScope, GrantRecord, ReviewRecord } from '../../server/access/types.js';
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

  @Field(() => GraphQLJSON, { nullable: true, description: "This approver's narrower argument rules: per tool name, a JSON Schema its arguments must also satisfy." })
  arguments!: Record<string, unknown> | null;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  static from(record: ReviewRecord, roles: readonly RoleConfig[]): Review {
    return Object.assign(new Review(), {
      reviewer: User.of(record.reviewer, rolesOf(record.reviewer, roles)),
      decision: record.decision as ReviewDecision,
      reason: record.reason,
      durationSeconds: record.durationSeconds,
      arguments: record.arguments ?? null,
      createdAt: new Date(record.createdAt),
    });
  }
}

/** What a request asks for and its grant allows, as both show it (its fields inherited; never a type of the schema itself). */
@ObjectType()
abstract class Scope {
  @Field(() => String, { nullable: true, description: 'The config rule it was asked under (`<role>/request/<index>`); null for records older than rule labels.' })
  rule!: string | null;

  @Field(() => [String], { description: 'Resource URI patterns (`*` matches any run of characters). Empty: no resources.' })
  resources!: string[];

  @Field(() => [String], { description: 'Resource URI patterns excluded even where `resources` match (without regard to case).' })
  deniedResources!: string[];

  @Field(() => [String], { description: 'Prompt name patterns. Empty: no prompts.' })
  prompts!: string[];

  @Field(() => [String], { description: 'Prompt name patterns excluded even where `prompts` match (without regard to case).' })
  deniedPrompts!: string[];

  @Field(() => Boolean, { description: 'Only read-only tools (by their annotations when granted, or the operator\'s list).' })
  readOnly!: boolean;

  @Field(() => GraphQLJSON, { description: 'Per tool name, the JSON Schemas its arguments must all satisfy: a request\'s are its rule\'s; a grant\'s add each approver\'s narrowing (Review.arguments).' })
  argumentRules!: Record<string, Record<string, unknown>[]>;
}

function scopeFields(record: AccessScope) {
  return {
    rule: record.rule,
    tools: record.tools,
    deniedTools: record.denyTools,
    resources: record.resources,
    deniedResources: record.denyResources,
    prompts: record.prompts,
    deniedPrompts: record.denyPrompts,
    readOnly: record.readOnly,
    argumentRules: record.arguments,
  };
}

@ObjectType({ description: 'A request for time-boxed access to an MCP server (or some of its tools, resources and prompts).' })
export class AccessRequest extends Scope {
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

  @Field(() => Boolean, { description: 'Filed by a model from inside an MCP client (the portcullis__request_access tool), not by the person in the console or CLI: a prompt-injected model could have filed it.' })
  filedByAgent!: boolean;

  @Field(() => String, { nullable: true, description: 'For a request an agent filed: the MCP client it came through, as that client named itself (unverified).' })
  agentClient!: string | null;

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

  /** Not a field: what viewerCanReview decides on. */
  record!: AccessRequestRecord;

  static from(record: AccessRequestRecord, now: number, roles: readonly RoleConfig[]): AccessRequest {
    return Object.assign(new AccessRequest(), {
      record,
      id: record.id,
      requester: User.of(record.requester, rolesOf(record.requester, roles)),
      server: record.server,
      ...scopeFields(record),
      reason: record.reason,
      filedByAgent: Boolean(record.filedByAgent),
      agentClient: record.filedByAgent?.client ?? null,
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
export class Grant extends Scope {
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

  @Field(() => [String], { nullable: true, description: 'For a read-only grant: the tools of the server that were read-only when it was issued (its annotations, or the operator\'s list). Null for other grants.' })
  readOnlyTools!: string[] | null;

  @Field(() => [String], {
    nullable: true,
    description: 'For a read-only grant: the tools it covers, its patterns applied to `readOnlyTools`. Null for other grants (their patterns say what they cover).',
  })
  coveredTools!: string[] | null;

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
      ...scopeFields(record),
      readOnlyTools: record.readOnly ? (record.readOnlyTools ?? []) : null,
      coveredTools: record.readOnly ? coveredTools(record) : null,
      status: grantStatus(record, now) as GrantStatus,
      issuedAt: new Date(record.issuedAt),
      expiresAt: new Date(record.expiresAt),
      revokedAt: record.revokedAt === null ? null : new Date(record.revokedAt),
      revokeReason: record.revokeReason,
      requestId: record.requestId,
    });
  }
}

/** A read-only grant's tools after its filter: read-only when granted and inside its patterns. */
function coveredTools(record: GrantRecord): string[] {
  const grant = new CompiledGrant(record);
  // Judged by the grant's list (a session also checks the definition it is shown: grant-decision.ts).
  return (record.readOnlyTools ?? []).filter((name) => grant.decide({ kind: 'tool', name, writable: false }).allowed);
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

  @Field(() => [String], { description: 'Resource URI patterns the caller may request on this server.' })
  requestableResources!: string[];

  @Field(() => [String], { description: 'Prompt name patterns the caller may request on this server.' })
  requestablePrompts!: string[];

  @Field(() => [String], { description: 'Resource URI patterns the caller may review requests for.' })
  reviewableResources!: string[];

  @Field(() => [String], { description: 'Prompt name patterns the caller may review requests for.' })
  reviewablePrompts!: string[];

  @Field(() => [String], { description: 'Methods outside MCP\'s own that grants on this server may use (all others are refused).' })
  allowedMethods!: string[];

  @Field(() => Int, { nullable: true, description: 'The longest duration the caller may request on this server; null when nothing is requestable.' })
  maxDurationSeconds!: number | null;
}

@InputType()
export class CreateAccessRequestInput {
  @Field(() => String)
  server!: string;

  @Field(() => [String], { nullable: true, description: 'Tool name patterns; omitted: every tool the requester may request on the server.' })
  tools?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Resource URI patterns; omitted: the resources the granting rule allows (none unless it names some).' })
  resources?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Prompt name patterns; omitted: the prompts the granting rule allows (none unless it names some).' })
  prompts?: string[] | null;

  @Field(() => Boolean, { nullable: true, description: 'Ask for read-only tools only (a rule that is read-only stays so).' })
  readOnly?: boolean | null;

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

  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'Approvers may narrow the arguments: per tool name, a JSON Schema its arguments must also satisfy (added to the rule\'s, never replacing them). APPROVE only.',
  })
  arguments?: Record<string, unknown> | null;
}

@ObjectType({ description: 'Why a person may or may not do something on a server: the grant or rule that decides, and the clause.' })
export class AccessExplanation {
  @Field(() => Boolean)
  allowed!: boolean;

  @Field(() => String, { nullable: true, description: 'The refusal reason the broker gives (`data.reason`): tool_not_granted, resource_not_granted, prompt_not_granted, argument_not_allowed, method_not_granted.' })
  reason!: string | null;

  @Field(() => String, {
    description: 'The clause that decided: allowed, no_grant, unknown_method, name_not_grantable, not_in_grant, denied_by_pattern, not_read_only or argument_rule.',
  })
  clause!: string;

  @Field(() => ID, { nullable: true, description: 'The grant that allows it, or came closest to.' })
  grantId!: string | null;

  @Field(() => String, { nullable: true, description: 'The config rule behind that grant.' })
  rule!: string | null;

  @Field(() => String, { nullable: true, description: 'The pattern that decided (the allowing one, or the deny pattern that matched).' })
  pattern!: string | null;

  @Field(() => String, { nullable: true, description: 'For an argument rule: the JSON pointer of the argument that failed (never its value).' })
  argumentPath!: string | null;

  @Field(() => String, { description: 'The same, in a sentence.' })
  summary!: string;

  @Field(() => [String], { description: 'When refused: the request rules under which it could be requested.' })
  requestableUnder!: string[];
}
