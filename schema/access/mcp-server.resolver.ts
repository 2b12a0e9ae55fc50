import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import { requireScope } from '../../server/identity/api-tokens.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { AccessExplanation, McpServer } from './access.types.js';

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
      requestableTools: ctx.policy.requestable(caller, server.name, 'tools'),
      reviewableTools: ctx.policy.reviewable(caller, server.name, 'tools'),
      requestableResources: ctx.policy.requestable(caller, server.name, 'resources'),
      requestablePrompts: ctx.policy.requestable(caller, server.name, 'prompts'),
      reviewableResources: ctx.policy.reviewable(caller, server.name, 'resources'),
      reviewablePrompts: ctx.policy.reviewable(caller, server.name, 'prompts'),
      allowedMethods: [...server.allowMethods],
    }));
  }

  @Query(() => AccessExplanation, {
    description:
      'Would the broker allow this? For a method on a server and the tool, prompt or resource URI it names (with a call\'s arguments): the grant or rule that allows or refuses it, and the clause. Answers for the caller; an auditor may ask for any user (by id).',
  })
  explainAccess(
    @Arg('server', () => String) server: string,
    @Arg('method', () => String, { description: 'The MCP method: tools/call, resources/read, prompts/get, completion/complete, ...' }) method: string,
    @Arg('name', () => String, { nullable: true, description: 'The tool or prompt name, or resource URI (a completion: the prompt name or resource template).' }) name: string | null,
    @Arg('arguments', () => GraphQLJSON, { nullable: true, description: 'For tools/call: the arguments, checked against argument rules.' }) args: unknown,
    @Arg('user', () => ID, { nullable: true, description: 'Whom to answer for (an auditor only); the caller when omitted.' }) user: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AccessExplanation> {
    const caller = requirePrincipal(ctx);
    requireScope(caller, 'api');
    return ctx.explainer.explain(caller, { server, method, name, arguments: args, userId: user });
  }
}
