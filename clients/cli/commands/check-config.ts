import { Command } from 'commander';
import { formatProblem } from '../../../server/config/load.js';
import { loadConfigOrExit } from './load-config.js';

export function checkConfigCommand(): Command {
  return new Command('check-config')
    .description('Validate a configuration file (with its ${env:...} and ${file:...} references) and exit: 0 valid (warnings, if any, on stderr), 2 invalid.')
    .argument('<file>', 'YAML configuration file')
    .action((file: string) => {
      const { config, warnings } = loadConfigOrExit(file);
      for (const warning of warnings) console.error(`portcullis: warning: ${formatProblem(file, warning)}`);
      const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
      console.log(
        `${file}: valid (${[
          count(config.identityProviders.length, 'identity provider'),
          count(config.servers.length, 'MCP server'),
          count(config.roles.length, 'role'),
          config.store.redis ? 'Redis store' : 'embedded store',
        ].join(', ')})`,
      );
    });
}
