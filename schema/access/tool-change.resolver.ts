import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../context.js';
import { apiCaller } from './access-request.resolver.js';
import { ToolChange } from './tool-change.types.js';

@Resolver(() => ToolChange)
export class ToolChangeResolver {
  @Query(() => [ToolChange], {
    description: "Tools whose definition changed after it was pinned, oldest first, old and new side by side: of `server`, or of every server the caller reviews (every server, for an auditor).",
  })
  async toolChanges(@Arg('server', () => String, { nullable: true }) server: string | null | undefined, @Ctx() ctx: GraphQLContext): Promise<ToolChange[]> {
    const changes = await ctx.toolChanges.changes(apiCaller(ctx), server ?? undefined);
    return changes.map(ToolChange.from);
  }

  @Mutation(() => ToolChange, {
    description:
      'Accepts the new definition of a tool (by its hash, as toolChanges shows it): the tool is pinned to it, shown and callable again, and live sessions hear notifications/tools/list_changed. By a reviewer whose rules cover the tool on that server; audited as mcp.tool.accepted.',
  })
  async acceptToolChange(
    @Arg('server', () => String) server: string,
    @Arg('tool', () => String) tool: string,
    @Arg('hash', () => String) hash: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ToolChange> {
    return ToolChange.from(await ctx.toolChanges.accept(apiCaller(ctx), server, tool, hash));
  }
}
