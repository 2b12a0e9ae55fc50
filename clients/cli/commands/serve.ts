import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfigOrExit } from './load-config.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number (0 picks a free one)');
  return n;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the broker (HTTP, GraphQL, WebSockets) until SIGTERM or SIGINT.')
    .requiredOption('-c, --config <file>', 'YAML configuration file (default: $PORTCULLIS_CONFIG)', process.env.PORTCULLIS_CONFIG)
    .option('-p, --port <port>', 'listen on this port instead of server.port', port)
    .option('--data-dir <dir>', 'keep the embedded store here instead of store.dataDir')
    .action(async (options: { config: string; port?: number; dataDir?: string }) => {
      const loaded = loadConfigOrExit(options.config);
      if (options.port !== undefined) loaded.config.server.port = options.port;
      // Relative to the working directory, as a command-line path is expected to be.
      if (options.dataDir !== undefined) loaded.config.store.dataDir = resolve(options.dataDir);
      // Loaded lazily: client commands should not pay for the server's imports.
      const { serve } = await import('../../../server/main.js');
      await serve(loaded);
    });
}
