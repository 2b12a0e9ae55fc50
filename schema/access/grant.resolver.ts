import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { requireScope } from '../../server/identity/api-tokens.js';
import { PortcullisError } from '../../server/errors.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { view } from './access-request.resolver.js';
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
    const caller = requirePrincipal(ctx);
    requireScope(caller, 'api');
    const page = await ctx.access.listGrants(caller, args);
    return { items: page.items.map((g) => Grant.from(g, ctx.clock.now(), ctx.config.roles)), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Mutation(() => Grant, { description: 'Ends a grant at once, on every broker instance. By its owner, a reviewer who could have approved it, or an auditor.' })
  async revokeGrant(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: GraphQLContext): Promise<Grant> {
    const caller = requirePrincipal(ctx);
    requireScope(caller, 'api');
    return Grant.from(await ctx.access.revokeGrant(caller, id, reason), ctx.clock.now(), ctx.config.roles);
  }

  @FieldResolver(() => AccessRequest, { nullable: true, description: 'The request that issued it, when the caller may see that request.' })
  async request(@Root() grant: Grant, @Ctx() ctx: GraphQLContext): Promise<AccessRequest | null> {
    try {
      return view(ctx, await ctx.access.getRequest(requirePrincipal(ctx), grant.requestId));
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
  }
}
