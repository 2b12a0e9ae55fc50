import { Ctx, Query, Resolver } from 'type-graphql';
import { requireScope } from '../../server/identity/api-tokens.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { McpServer } from './access.types.js';

@Resolver(() => McpServer)
export class McpServerResolver {
  @Query(() => [McpServer], { description: 'The configured MCP servers, with what the caller may request and review on each.' })
  mcpServers(@Ctx() ctx: GraphQLContext): McpServer[] {
    const caller = requirePrincipal(ctx);
    requireScope(caller, 'api');
    return ctx.config.servers.map((server) => ({
      name: server.name,
      description: server.description ?? null,
      transport: server.transport,
      requestableTools: ctx.policy.requestableTools(caller, server.name),
      reviewableTools: ctx.policy.reviewableTools(caller, server.name),
    }));
  }
}
