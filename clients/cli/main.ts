import { Command } from 'commander';
import { PortcullisError } from '../../server/errors.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';
import { errorLine } from './output.js';
import { accessCommands } from './commands/access.js';
import { anomaliesCommand } from './commands/anomalies.js';
import { auditCommand } from './commands/audit.js';
import { checkConfigCommand } from './commands/check-config.js';
import { connectCommand } from './commands/connect.js';
import { explainCommand } from './commands/explain.js';
import { mcpConfigCommand } from './commands/mcp-config.js';
import { loginCommand, logoutCommand, whoamiCommand } from './commands/login.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommands } from './commands/tokens.js';
import { toolsCommand } from './commands/tools.js';

const program = new Command('portcullis')
  .description('Access broker for MCP servers: SAML sign-in, just-in-time grants, audited relay.')
  .showHelpAfterError()
  // Options after a subcommand are that subcommand's (`anomalies --user` lists, `anomalies suppress --user` suppresses).
  .enablePositionalOptions()
  .addHelpText('after', '\nExit codes: 0 success, 1 failure, 2 invalid configuration, 3 request not granted (request --wait), 4 access refused (explain).')
  .addCommand(loginCommand())
  .addCommand(logoutCommand())
  .addCommand(whoamiCommand());
for (const command of [...accessCommands(), explainCommand(), ...tokenCommands(), toolsCommand(), anomaliesCommand()]) program.addCommand(command);
program
  .addCommand(serveCommand())
  .addCommand(checkConfigCommand())
  .addCommand(connectCommand())
  .addCommand(mcpConfigCommand())
  .addCommand(auditCommand());

await program.parseAsync(process.argv).catch((error: unknown) => {
  // One clear line, never a stack: typed errors carry their stable code.
  const code = error instanceof PortcullisError || error instanceof CliError ? `${error.code}: ` : '';
  // The code too: a broker's answer sets it (extensions.code).
  errorLine(`portcullis: ${code}${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT.failure);
});
