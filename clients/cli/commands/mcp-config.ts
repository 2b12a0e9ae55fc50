import { existsSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { Command, Option } from 'commander';
import { endpointUrl, urlEntry } from '../../../broker/client-entries.js';
import type { McpClientKind } from '../../../broker/client-entries.js';
import { entryPointPath } from '../../../server/installation.js';
import { CliError } from '../cli-error.js';
import { checkBrokerUrl } from '../credentials.js';

type Transport = 'http' | 'stdio';

interface McpConfigOptions {
  all?: boolean;
  broker: string;
  client: McpClientKind;
  transport?: Transport;
  command?: string;
  arg?: string[];
}

/**
 * The entry an MCP client needs to reach a server through the broker. It names the
 * command only: the token stays in PORTCULLIS_TOKEN or the login file, never in a client
 * config that gets copied, synced and committed.
 *
 * The entry must run as printed, and a client starts it with no shell: the program and
 * its arguments are separate strings, never one command line split by guesswork (quoting
 * rules differ per platform, and paths hold spaces). By default the program is this
 * Node binary and its first argument this installation's bin/portcullis.js, both
 * absolute, because a client started from a desktop (Claude Desktop) does not inherit the
 * shell's PATH.
 */
export function mcpConfigCommand(): Command {
  return new Command('mcp-config')
    .description('Print the MCP client config entry for a server behind the broker, or with --all for every server you hold a grant for (no secret in it).')
    .argument('[server]', 'MCP server name')
    .option('--all', 'an entry for the federated endpoint (named "portcullis")')
    .requiredOption('-b, --broker <url>', 'broker base URL')
    .addOption(new Option('--client <client>', 'which client the entry is for').choices(['claude', 'claude-code', 'cursor', 'vscode']).default('claude'))
    .addOption(new Option('--transport <transport>', 'http: the broker\'s URL, signed in by the client (OAuth); stdio: the `portcullis connect` bridge (default, except for claude-code)').choices(['http', 'stdio']))
    .option('--command <program>', 'the program the client starts, one path or name (default: this Node binary, absolute)')
    .option('--arg <argument>', 'an argument for --command, before `connect` (repeatable), e.g. --command node --arg /path/bin/portcullis.js', (value: string, previous: string[] = []) => [...previous, value])
    .addHelpText(
      'after',
      '\nWith --transport http the client connects to the broker by URL and signs you in itself\n(MCP authorization: your SAML sign-in in the browser); nothing is installed and no token\nis stored in its config. Claude Desktop adds remote servers in Settings > Connectors.\n\nA stdio entry runs as printed: a client starts it with no shell and, from a desktop,\nwithout your PATH, so by default it names this Node binary and this installation\'s\nbin/portcullis.js, both absolute. Print it again after moving or upgrading either.',
    )
    .action((server: string | undefined, options: McpConfigOptions) => {
      if ((server === undefined) === !options.all) throw new CliError('INVALID_ARGUMENT', 'name one server, or give --all for every server you hold a grant for');
      const name = server ?? 'portcullis';
      const transport = options.transport ?? (options.client === 'claude-code' ? 'http' : 'stdio');
      // Refused here as `connect` and `login` refuse it: an http entry would send the client's bearer tokens over plain http.
      const broker = checkBrokerUrl(options.broker);
      console.log(transport === 'http' ? urlEntryOf(options, name, endpointUrl(broker, server)) : JSON.stringify(stdioEntry(options, name, server, broker), null, 2));
    });
}

/** The URL form, as each client that takes one writes it (Claude Desktop takes it in its settings, not a file). */
function urlEntryOf(options: McpConfigOptions, name: string, url: string): string {
  if (options.command !== undefined || options.arg) throw new CliError('INVALID_ARGUMENT', '--command and --arg belong to a stdio entry, not to --transport http');
  const entry = urlEntry(options.client, name, url);
  if (entry.format === 'text') throw new CliError('INVALID_ARGUMENT', `${entry.text} Or print the stdio entry (--transport stdio).`);
  return entry.text;
}

function stdioEntry(options: McpConfigOptions, name: string, server: string | undefined, broker: string): object {
  const [command, ...prefix] = launcher(options);
  const entry = { command, args: [...prefix, 'connect', ...(server === undefined ? ['--all'] : [server]), '--broker', new URL(broker).toString()] };
  return options.client === 'vscode' ? { servers: { [name]: { type: 'stdio', ...entry } } } : { mcpServers: { [name]: entry } };
}

/** The program and the arguments that start this CLI, for a client that runs it without a shell. */
function launcher(options: McpConfigOptions): [string, ...string[]] {
  if (options.command === undefined) {
    if (options.arg) throw new CliError('INVALID_ARGUMENT', '--arg goes with --command');
    return [process.execPath, entryPoint()];
  }
  const { command } = options;
  if (/\s/.test(command) && !existsSync(command)) {
    throw new CliError('INVALID_ARGUMENT', '--command names one program, not a command line: give its arguments with --arg (e.g. --command node --arg /path/bin/portcullis.js)');
  }
  // A relative path would be looked up from wherever the client starts, not from here.
  const program = command.includes('/') || command.includes(sep) ? resolve(command) : command;
  return [program, ...(options.arg ?? [])];
}

/** bin/portcullis.js of the installation this module belongs to (from source or from dist/). */
function entryPoint(): string {
  const path = entryPointPath();
  if (path === null) throw new CliError('NO_ENTRY_POINT', 'cannot find bin/portcullis.js of this installation: give --command and --arg');
  return path;
}
