import { Command } from 'commander';
import { loadConfigOrExit } from './load-config.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the broker (HTTP, GraphQL, WebSockets) until SIGTERM or SIGINT.')
    .requiredOption('-c, --config <file>', 'YAML configuration file', process.env.PORTCULLIS_CONFIG)
    .action(async (options: { config: string }) => {
      const loaded = loadConfigOrExit(options.config);
      // Loaded lazily: client commands should not pay for the server's imports.
      const { serve } = await import('../../../server/main.js');
      await serve(loaded);
    });
}
