import { Command } from 'commander';
import { ApiTokensDocument, CreateApiTokenDocument, RevokeApiTokenDocument } from '../../graphql/generated/graphql.js';
import { errorLine, fields, list, table, when } from '../output.js';
import { apiFor, clientCommand, durationOption, emit, listOption } from './client-command.js';
import type { ClientOptions } from './client-command.js';

export function tokenCommands(): Command[] {
  return [tokensCommand(), tokenCommand()];
}

function tokensCommand(): Command {
  return clientCommand('tokens', 'List your live API tokens (never their secrets).').action(async (options: ClientOptions) => {
    const { apiTokens } = await apiFor(options).request(ApiTokensDocument, {});
    emit(options, apiTokens, () => table(['ID', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES'], apiTokens.map((t) => [t.id, t.name, list(t.scopes), when(t.createdAt), when(t.expiresAt)])));
  });
}

function tokenCommand(): Command {
  const token = new Command('token').description('Create and revoke API tokens (for scripts, SIEMs and MCP clients).');
  token.addCommand(
    clientCommand('create', 'Create a token; it is shown once, on stdout.')
      .requiredOption('--scope <scopes>', 'api, mcp and/or audit:read (comma-separated or repeated)', listOption)
      .requiredOption('--ttl <duration>', 'lifetime, like 30d or 12h', durationOption)
      .option('--name <name>', 'what it is for (default: its scopes)')
      .action(async (options: ClientOptions & { scope: string[]; ttl: number; name?: string }) => {
        const name = options.name ?? `${list(options.scope)} token`;
        const { createApiToken } = await apiFor(options).request(CreateApiTokenDocument, { name, scopes: options.scope, ttlSeconds: options.ttl });
        const { apiToken } = createApiToken;
        if (!options.json) errorLine(`Created token ${apiToken.id} (${list(apiToken.scopes)}), expires ${when(apiToken.expiresAt)}. It is shown once; store it now.`);
        emit(options, createApiToken, () => createApiToken.token);
      }),
  );
  token.addCommand(
    clientCommand('revoke', 'Revoke one of your tokens now.')
      .argument('<id>', 'token id (see `portcullis tokens`)')
      .action(async (id: string, options: ClientOptions) => {
        const { revokeApiToken } = await apiFor(options).request(RevokeApiTokenDocument, { id });
        emit(options, revokeApiToken, () => fields([['Revoked', `${revokeApiToken.id} (${revokeApiToken.name})`]]));
      }),
  );
  return token;
}
