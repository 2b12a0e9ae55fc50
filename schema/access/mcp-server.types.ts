import { GraphQLJSON } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import type { ToolDefinition } from '../../broker/tool-catalog.js';
import type { McpClientEntry as ClientEntry } from '../../broker/client-entries.js';

/** An annotation hint as a tri-state: true or false when the server says, null when it does not. */
function hint(tool: ToolDefinition, name: string): boolean | null {
  const value = tool.annotations?.[name];
  return typeof value === 'boolean' ? value : null;
}

@ObjectType({ description: "A tool of an MCP server as the server describes it (its annotations are the server's word, not the broker's)." })
export class McpTool {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  title!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean, { nullable: true, description: 'annotations.readOnlyHint: the tool does not change its environment.' })
  readOnly!: boolean | null;

  @Field(() => Boolean, { nullable: true, description: 'annotations.destructiveHint: the tool may destroy or overwrite.' })
  destructive!: boolean | null;

  @Field(() => Boolean, { nullable: true, description: 'annotations.idempotentHint: calling it again with the same arguments changes nothing more.' })
  idempotent!: boolean | null;

  @Field(() => Boolean, { nullable: true, description: 'annotations.openWorldHint: the tool reaches beyond the server (the web, other systems).' })
  openWorld!: boolean | null;

  @Field(() => GraphQLJSON, { nullable: true, description: "The JSON Schema of the tool's arguments." })
  inputSchema!: unknown;

  static from(tool: ToolDefinition): McpTool {
    const title = typeof tool.title === 'string' ? tool.title : tool.annotations?.title;
    return Object.assign(new McpTool(), {
      name: tool.name,
      title: typeof title === 'string' ? title : null,
      description: typeof tool.description === 'string' ? tool.description : null,
      readOnly: hint(tool, 'readOnlyHint'),
      destructive: hint(tool, 'destructiveHint'),
      idempotent: hint(tool, 'idempotentHint'),
      openWorld: hint(tool, 'openWorldHint'),
      inputSchema: tool.inputSchema ?? null,
    });
  }
}

@ObjectType({ description: 'What one MCP client takes to reach the endpoint.' })
export class McpClientEntry {
  @Field(() => String, { description: 'claude-code | vscode | cursor | claude (Claude Desktop).' })
  client!: string;

  @Field(() => String, { description: 'The client\'s name to show: "Claude Code", "VS Code", "Cursor", "Claude Desktop".' })
  label!: string;

  @Field(() => String, { description: 'shell (a command to run), json (a config file entry) or text (steps to follow).' })
  format!: string;

  @Field(() => String)
  text!: string;

  static from(entry: ClientEntry): McpClientEntry {
    return Object.assign(new McpClientEntry(), entry);
  }
}

@ObjectType({ description: 'How to connect an MCP client to a server through the broker (or to the federated endpoint). No secret in it: clients sign in themselves.' })
export class McpConnection {
  @Field(() => String, { description: 'Streamable HTTP URL (what Claude Code, VS Code and Cursor take).' })
  url!: string;

  @Field(() => String, { description: 'WebSocket URL (the bridge and WebSocket clients).' })
  webSocketUrl!: string;

  @Field(() => [McpClientEntry])
  entries!: McpClientEntry[];
}
