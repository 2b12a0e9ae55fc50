import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { endpointUrl, urlEntries, webSocketUrl } from '../../broker/client-entries.js';
import type { ToolDefinition } from '../../broker/tool-catalog.js';
import { NotFoundError } from '../../server/errors.js';
import { requireScope } from '../../server/identity/api-tokens.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { apiCaller } from './access-request.resolver.js';
import { AccessExplanation, McpServer } from './access.types.js';
import { McpClientEntry, McpConnection, McpTool } from './mcp-server.types.js';

/** Longest tools error shown: enough to say what failed, not a dump of the upstream's answer. */
const MAX_TOOLS_ERROR = 300;

/** The server's tools as the broker reads them, or why they cannot be read; nothing for a caller with no business there (deny by default). */
async function toolsOf(ctx: GraphQLContext, server: McpServer): Promise<{ tools: ToolDefinition[] } | { error: string } | null> {
  if (!ctx.policy.concerns(requirePrincipal(ctx), server.name)) return null;
  try {
    return { tools: await ctx.toolCatalog.tools(server.name) };
  } catch (error) {
    return { error: (error instanceof Error ? error.message : String(error)).slice(0, MAX_TOOLS_ERROR) };
  }
}

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
      maxDurationSeconds: ctx.policy.maxDurationSeconds(caller, server.name),
    }));
  }

  @FieldResolver(() => [McpTool], {
    nullable: true,
    description:
      'The server\'s tools as the broker reads them now (cached a few seconds): only for callers who may request or review on the server, or auditors; null otherwise or when the server cannot be read (see toolsError).',
  })
  async tools(@Root() server: McpServer, @Ctx() ctx: GraphQLContext): Promise<McpTool[] | null> {
    const read = await toolsOf(ctx, server);
    return read && 'tools' in read ? read.tools.map(McpTool.from) : null;
  }

  @FieldResolver(() => String, { nullable: true, description: 'Why the server\'s tools could not be read (null when they were, or when `tools` is not for the caller).' })
  async toolsError(@Root() server: McpServer, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    const read = await toolsOf(ctx, server);
    return read && 'error' in read ? read.error : null;
  }

  @Query(() => McpConnection, { description: 'How to connect an MCP client to one server (or, without `server`, to the federated endpoint /mcp).' })
  mcpConnection(@Arg('server', () => String, { nullable: true }) server: string | null | undefined, @Ctx() ctx: GraphQLContext): McpConnection {
    const caller = apiCaller(ctx);
    const named = server ?? undefined;
    // An unknown server and one the caller has no business with get the same answer.
    if (named !== undefined && (!ctx.policy.serverExists(named) || !ctx.policy.concerns(caller, named))) throw new NotFoundError('MCP server', 'server');
    const base = ctx.config.server.publicUrl;
    const url = endpointUrl(base, named);
    return { url, webSocketUrl: webSocketUrl(base, named), entries: urlEntries(named ?? 'portcullis', url).map(McpClientEntry.from) };
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
