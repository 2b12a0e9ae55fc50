import { Command, Option } from 'commander';

/**
 * The entry an MCP client needs to reach a server through the broker. It names the
 * command only: the token stays in PORTCULLIS_TOKEN or the login file, never in a client
 * config that gets copied, synced and committed.
 */
export function mcpConfigCommand(): Command {
  return new Command('mcp-config')
    .description('Print the MCP client config entry for a server behind the broker (no secret in it).')
    .argument('<server>', 'MCP server name')
    .requiredOption('-b, --broker <url>', 'broker base URL')
    .addOption(new Option('--client <client>', 'which client the entry is for').choices(['claude', 'cursor', 'vscode']).default('claude'))
    .option('--command <command>', 'how the client starts the CLI', 'portcullis')
    .action((server: string, options: { broker: string; client: 'claude' | 'cursor' | 'vscode'; command: string }) => {
      const entry = { command: options.command, args: ['connect', server, '--broker', new URL(options.broker).toString()] };
      const config = options.client === 'vscode' ? { servers: { [server]: { type: 'stdio', ...entry } } } : { mcpServers: { [server]: entry } };
      console.log(JSON.stringify(config, null, 2));
    });
}
