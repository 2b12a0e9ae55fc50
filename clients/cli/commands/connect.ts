import { Command } from 'commander';
import { BridgeFatal, runBridge } from '../../mcp/stdio-bridge.js';
import { resolveToken } from '../credentials.js';
import { EXIT } from '../exit-codes.js';

export function connectCommand(): Command {
  return new Command('connect')
    .description('Bridge a local stdio MCP client to an MCP server behind the broker (token from PORTCULLIS_TOKEN or `portcullis login`).')
    .argument('<server>', 'MCP server name, as `portcullis servers` lists it')
    .option('-b, --broker <url>', 'broker base URL (default: the one you logged in to)')
    .action(async (server: string, options: { broker?: string }) => {
      const credentials = resolveToken();
      const broker = options.broker ?? credentials?.broker;
      if (!credentials || !broker) {
        console.error('portcullis: no token: set PORTCULLIS_TOKEN (an mcp-scoped API token) or run `portcullis login`, and give --broker');
        process.exit(EXIT.failure);
      }
      const url = new URL(`mcp/ws/${encodeURIComponent(server)}`, broker.replace(/\/?$/, '/'));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      try {
        await runBridge({ url: url.toString(), token: credentials.token, input: process.stdin, output: process.stdout, report: (line) => console.error(line) });
      } catch (error) {
        if (!(error instanceof BridgeFatal)) throw error;
        console.error(error.message);
        process.exit(EXIT.failure);
      }
    });
}
