import { Command } from 'commander';
import { checkConfigCommand } from './commands/check-config.js';
import { serveCommand } from './commands/serve.js';

const program = new Command('portcullis')
  .description('Access broker for MCP servers: SAML sign-in, just-in-time grants, audited relay.')
  .showHelpAfterError()
  .addHelpText('after', '\nExit codes: 0 success, 1 failure, 2 invalid configuration.')
  .addCommand(serveCommand())
  .addCommand(checkConfigCommand());

await program.parseAsync(process.argv);
