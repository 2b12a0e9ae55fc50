import { Command } from 'commander';
import { BridgeFatal, runBridge } from '../../mcp/stdio-bridge.js';
import { brokerUrl } from '../broker-api.js';
import { resolveCredentials } from '../credentials.js';
import { EXIT } from '../exit-codes.js';

export function connectCommand(): Command {
  return new Command('connect')
    .description('Bridge a local stdio MCP client to an MCP server behind the broker (token from PORTCULLIS_TOKEN or `portcullis login`).')
    .argument('<server>', 'MCP server name, as `portcullis servers` lists it')
    .option('-b, --broker <url>', 'broker base URL (default: $PORTCULLIS_BROKER, else the one you logged in to)')
    .action(async (server: string, options: { broker?: string }) => {
      const { broker, token } = resolveCredentials(options);
      const url = brokerUrl(broker, `mcp/ws/${encodeURIComponent(server)}`, 'ws');
      try {
        await runBridge({ url, token, input: process.stdin, output: process.stdout, report: (line) => console.error(line) });
      } catch (error) {
        if (!(error instanceof BridgeFatal)) throw error;
        console.error(error.message);
        process.exit(EXIT.failure);
      }
    });
}
