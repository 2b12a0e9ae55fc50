import { Command } from 'commander';
import { PortcullisError } from '../../server/errors.js';
import { EXIT } from './exit-codes.js';
import { auditCommand } from './commands/audit.js';
import { checkConfigCommand } from './commands/check-config.js';
import { connectCommand } from './commands/connect.js';
import { mcpConfigCommand } from './commands/mcp-config.js';
import { serveCommand } from './commands/serve.js';

const program = new Command('portcullis')
  .description('Access broker for MCP servers: SAML sign-in, just-in-time grants, audited relay.')
  .showHelpAfterError()
  .addHelpText('after', '\nExit codes: 0 success, 1 failure, 2 invalid configuration.')
  .addCommand(serveCommand())
  .addCommand(checkConfigCommand())
  .addCommand(connectCommand())
  .addCommand(mcpConfigCommand())
  .addCommand(auditCommand());

await program.parseAsync(process.argv).catch((error: unknown) => {
  // One clear line, never a stack: typed errors carry their stable code.
  const code = error instanceof PortcullisError ? `${error.code}: ` : '';
  console.error(`portcullis: ${code}${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT.failure);
});
