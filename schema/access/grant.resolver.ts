import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { GRANT_CHANGED } from '../../server/access/access-events.js';
import type { GrantRecord } from '../../server/access/types.js';
import { PortcullisError } from '../../server/errors.js';
import type { Principal } from '../../server/identity/principal.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { apiCaller, view, visibleFeed } from './access-request.resolver.js';
import { AccessRequest, Grant, GrantPage } from './access.types.js';

@ArgsType()
class GrantsArgs {
  @Field(() => Boolean, { nullable: true, description: 'true: only active grants; false: only ended ones.' })
  active?: boolean | null;

  @Field(() => Int, { nullable: true })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@Resolver(() => Grant)
export class GrantResolver {
  @Query(() => GrantPage, { description: "The caller's grants (auditors: everyone's)." })
  async grants(@Args(() => GrantsArgs) args: GrantsArgs, @Ctx() ctx: GraphQLContext): Promise<GrantPage> {
    const page = await ctx.access.listGrants(apiCaller(ctx), args);
    return { items: page.items.map((g) => grantView(ctx, g)), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => Grant, { nullable: true, description: 'A grant by id: its owner, a reviewer who could have approved it, or an auditor; otherwise null (as for an unknown id).' })
  async grant(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Grant | null> {
    return visibleGrant(ctx, apiCaller(ctx), id);
  }

  @Mutation(() => Grant, { description: 'Ends a grant at once, on every broker instance. By its owner, a reviewer who could have approved it, or an auditor.' })
  async revokeGrant(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: GraphQLContext): Promise<Grant> {
    return grantView(ctx, await ctx.access.revokeGrant(apiCaller(ctx), id, reason));
  }

  @Subscription(() => Grant, {
    description: "The caller's grants (auditors: everyone's; reviewers: those they could have approved) as they are issued, revoked or expire.",
    subscribe: ({ context }) => {
      const ctx = context as GraphQLContext;
      return visibleFeed(ctx, ctx.pubSub.subscribe(GRANT_CHANGED), (caller, grant) => ctx.access.canSeeGrant(caller, grant));
    },
  })
  grantChanged(@Root() record: GrantRecord, @Ctx() ctx: GraphQLContext): Grant {
    return grantView(ctx, record);
  }

  @FieldResolver(() => AccessRequest, { nullable: true, description: 'The request that issued it, when the caller may see that request.' })
  async request(@Root() grant: Grant, @Ctx() ctx: GraphQLContext): Promise<AccessRequest | null> {
    const caller = requirePrincipal(ctx);
    if (!caller.scopes.has('api')) return null;
    try {
      return view(ctx, await ctx.access.getRequest(caller, grant.requestId));
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
  }
}

export function grantView(ctx: GraphQLContext, record: GrantRecord): Grant {
  return Grant.from(record, ctx.clock.now(), ctx.config.roles);
}

/** The grant with this id if the caller may see it, else null exactly as for an unknown id. */
export async function visibleGrant(ctx: GraphQLContext, caller: Principal, id: string): Promise<Grant | null> {
  const grant = await ctx.access.findGrant(caller, id);
  return grant && grantView(ctx, grant);
}
