import { filter, pipe } from '@graphql-yoga/subscription';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { REQUEST_CHANGED } from '../../server/access/access-events.js';
import type { AccessRequestRecord } from '../../server/access/types.js';
import { requireScope } from '../../server/identity/api-tokens.js';
import type { GraphQLContext } from '../context.js';
import type { Principal } from '../../server/identity/principal.js';
import { requirePrincipal } from '../context.js';
import { AccessRequest, AccessRequestPage, CreateAccessRequestInput, Grant, ReviewAccessRequestInput } from './access.types.js';
import { AccessRequestStatus } from './enums.js';

@ArgsType()
class AccessRequestsArgs {
  @Field(() => AccessRequestStatus, { nullable: true })
  status?: AccessRequestStatus | null;

  @Field(() => Boolean, { nullable: true, description: "Only the caller's own; otherwise those the caller may see (own, reviewable, and for an auditor all)." })
  mine?: boolean | null;

  @Field(() => Int, { nullable: true })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

/**
 * A topic's events as a subscription's stream, each authorised for the caller (with the
 * `api` scope, checked as the subscription starts) as it arrives.
 */
export function visibleFeed<T>(ctx: GraphQLContext, events: AsyncIterable<T>, visible: (caller: Principal, record: T) => boolean): AsyncIterable<T> {
  const caller = apiCaller(ctx);
  return pipe(
    events,
    filter((record: T) => visible(caller, record)),
  );
}

/** The caller, with the `api` scope every access operation needs. */
export function apiCaller(ctx: GraphQLContext) {
  const principal = requirePrincipal(ctx);
  requireScope(principal, 'api');
  return principal;
}

@Resolver(() => AccessRequest)
export class AccessRequestResolver {
  @Query(() => AccessRequest, { nullable: true })
  async accessRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AccessRequest> {
    return view(ctx, await ctx.access.getRequest(apiCaller(ctx), id));
  }

  @Query(() => AccessRequestPage, { description: "mine: only the caller's own; otherwise those the caller may see (own, reviewable, and for an auditor all)." })
  async accessRequests(@Args(() => AccessRequestsArgs) args: AccessRequestsArgs, @Ctx() ctx: GraphQLContext): Promise<AccessRequestPage> {
    const page = await ctx.access.listRequests(apiCaller(ctx), args);
    return { items: page.items.map((r) => view(ctx, r)), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Mutation(() => AccessRequest)
  async createAccessRequest(@Arg('input', () => CreateAccessRequestInput) input: CreateAccessRequestInput, @Ctx() ctx: GraphQLContext): Promise<AccessRequest> {
    return view(ctx, await ctx.access.createRequest(apiCaller(ctx), input));
  }

  @Mutation(() => AccessRequest)
  async reviewAccessRequest(@Arg('input', () => ReviewAccessRequestInput) input: ReviewAccessRequestInput, @Ctx() ctx: GraphQLContext): Promise<AccessRequest> {
    return view(ctx, await ctx.access.reviewRequest(apiCaller(ctx), input));
  }

  @Mutation(() => AccessRequest)
  async cancelAccessRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AccessRequest> {
    return view(ctx, await ctx.access.cancelRequest(apiCaller(ctx), id));
  }

  @Subscription(() => AccessRequest, {
    description: 'Requests the caller may see, as they are created and change state.',
    subscribe: ({ context }) => {
      const ctx = context as GraphQLContext;
      return visibleFeed(ctx, ctx.pubSub.subscribe(REQUEST_CHANGED), (caller, record) => ctx.access.canSeeRequest(caller, record));
    },
  })
  accessRequestChanged(@Root() record: AccessRequestRecord, @Ctx() ctx: GraphQLContext): AccessRequest {
    return view(ctx, record);
  }

  @FieldResolver(() => Boolean, { description: 'The caller may review it now (pending, a reviewer of all it asks, not the requester, not reviewed by them yet).' })
  viewerCanReview(@Root() request: AccessRequest, @Ctx() ctx: GraphQLContext): boolean {
    return ctx.access.canReview(requirePrincipal(ctx), request.record);
  }

  @FieldResolver(() => Grant, { nullable: true })
  async grant(@Root() request: AccessRequest, @Ctx() ctx: GraphQLContext): Promise<Grant | null> {
    if (request.grantId === null) return null;
    // Whoever sees the request sees its grant.
    const grant = await ctx.stores.access.getGrant(request.grantId);
    return grant ? Grant.from(grant, ctx.clock.now(), ctx.config.roles) : null;
  }
}

export function view(ctx: GraphQLContext, record: AccessRequestRecord): AccessRequest {
  return AccessRequest.from(record, ctx.clock.now(), ctx.config.roles);
}
