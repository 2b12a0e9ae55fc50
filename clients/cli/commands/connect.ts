import { Command, Option } from 'commander';
import { BridgeFatal, runBridge } from '../../mcp/stdio-bridge.js';
import { brokerUrl } from '../broker-api.js';
import { CliError } from '../cli-error.js';
import { resolveCredentials } from '../credentials.js';
import { EXIT } from '../exit-codes.js';
import { errorLine } from '../output.js';
import { durationOption } from './client-command.js';

const AFTER_HELP = `
When the broker ends the session, the bridge carries on where it can:
  idle timeout (1000)               a new session opens on the client's next message
  broker restart (1001), upstream failure (1011), frame too large (1009),
  client too slow (1008), 429, 503, network errors
                                    reconnects with backoff
  token revoked, signed out, expired (4401), token refused (401)
                                    reconnects if a newer login is at hand, else ends
  grant ended (4403), no grant (403), unknown server (404)
                                    ends
A new session replays initialize, live resource subscriptions and the log level.
Requests in flight at a drop get an error; requests sent while reconnecting wait up to
--reconnect-timeout. When the bridge ends, it prints why on stderr and answers the
client's next request with the same words (JSON-RPC error -32001, data.reason), then
exits with code 1.`;

export function connectCommand(): Command {
  return new Command('connect')
    .description('Bridge a local stdio MCP client to an MCP server behind the broker, or with --all to every server you hold a grant for (token from PORTCULLIS_TOKEN or `portcullis login`).')
    .argument('[server]', 'MCP server name, as `portcullis servers` lists it')
    .option('--all', 'the federated endpoint: every server you hold an active grant for, tools named <server>__<tool>')
    .option('-b, --broker <url>', 'broker base URL (default: $PORTCULLIS_BROKER, else the one you logged in to)')
    .addOption(new Option('--reconnect-timeout <duration>', 'how long a request waits while the bridge reconnects before it is answered with an error').argParser(durationOption).default(30, '30s'))
    .addHelpText('after', AFTER_HELP)
    .action(async (server: string | undefined, options: { all?: boolean; broker?: string; reconnectTimeout: number }) => {
      if ((server === undefined) === !options.all) throw new CliError('INVALID_ARGUMENT', 'name one server, or give --all for every server you hold a grant for');
      const path = server === undefined ? 'mcp/ws' : `mcp/ws/${encodeURIComponent(server)}`;
      // The first answer fixes the broker: a later login for another broker is not followed.
      let broker = options.broker;
      const credentials = () => {
        const resolved = resolveCredentials({ broker });
        broker = resolved.broker;
        return { url: brokerUrl(resolved.broker, path, 'ws'), token: resolved.token };
      };
      try {
        await runBridge({
          server,
          credentials,
          input: process.stdin,
          output: process.stdout,
          // Close reasons and refusals carry an upstream's or a broker's text.
          report: errorLine,
          reconnectTimeoutMs: options.reconnectTimeout * 1000,
        });
      } catch (error) {
        // Already said on stderr and to the client.
        if (error instanceof BridgeFatal) process.exit(EXIT.failure);
        throw error;
      }
    });
}
