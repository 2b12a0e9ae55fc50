import type { Command } from 'commander';
import { ExplainAccessDocument } from '../../graphql/generated/graphql.js';
import { EXIT } from '../exit-codes.js';
import { fields, list } from '../output.js';
import { apiFor, clientCommand, emit, jsonObjectOption } from './client-command.js';
import type { ClientOptions } from './client-command.js';

/**
 * "Why denied", for people: the broker's own decision over the grants a session would
 * hold, asked without touching the server. Refused is an answer, not a failure: its own
 * exit code, so a script can tell it from a broker it could not ask.
 */
export function explainCommand(): Command {
  return clientCommand('explain', 'Would the broker allow this? The grant or rule that allows or refuses a method on a server, and why.')
    .argument('<server>', 'MCP server name (see `portcullis servers`)')
    .argument('<method>', 'MCP method: tools/call, resources/read, prompts/get, completion/complete, ...')
    .argument('[name]', 'what the method names: a tool or prompt name, or a resource URI (a completion: the prompt name or resource template)')
    .option('--arguments <json>', 'for tools/call: the call\'s arguments, as a JSON object or @file, checked against argument rules', jsonObjectOption)
    .option('--user <id>', 'answer for this user (`<idp>:<NameID>`, auditors only; default: you)')
    .addHelpText('after', `\nExit codes: ${EXIT.ok} allowed, ${EXIT.refused} refused (also with --json), ${EXIT.failure} when the broker could not be asked.`)
    .action(async (server: string, method: string, name: string | undefined, options: ClientOptions & { arguments?: Record<string, unknown>; user?: string }) => {
      const { explainAccess: answer } = await apiFor(options).request(ExplainAccessDocument, { server, method, name: name ?? null, arguments: options.arguments ?? null, user: options.user ?? null });
      emit(options, answer, () =>
        fields([
          ['Decision', answer.allowed ? 'ALLOWED' : 'REFUSED'],
          ['Summary', answer.summary],
          ['Reason', answer.reason ?? ''],
          ['Clause', answer.clause],
          ['Grant', answer.grantId ?? ''],
          ['Rule', answer.rule ?? ''],
          ['Pattern', answer.pattern ?? ''],
          ['Argument', answer.argumentPath ?? ''],
          ...(answer.allowed ? [] : [['Requestable under', list(answer.requestableUnder)] as [string, string]]),
        ]),
      );
      if (!answer.allowed) process.exitCode = EXIT.refused;
    });
}
