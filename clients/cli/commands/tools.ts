import { Command } from 'commander';
import { isRecord } from '../../../broker/core/json.js';
import { AcceptToolChangeDocument, ToolChangesDocument } from '../../graphql/generated/graphql.js';
import type { ToolChangeFieldsFragment, ToolDefinitionVersionFieldsFragment } from '../../graphql/generated/graphql.js';
import { fields, table, when } from '../output.js';
import { apiFor, clientCommand, emit } from './client-command.js';
import type { ClientOptions } from './client-command.js';

type Change = ToolChangeFieldsFragment;

export function toolsCommand(): Command {
  const tools = new Command('tools').description('Tools whose definition changed after the broker pinned it (hidden and refused until accepted).');
  tools.addCommand(
    clientCommand('changes', 'List pending tool changes you may review or audit, old and new definitions side by side.')
      .option('--server <name>', 'only this server')
      .action(async (options: ClientOptions & { server?: string }) => {
        const { toolChanges } = await apiFor(options).request(ToolChangesDocument, { server: options.server ?? null });
        emit(options, toolChanges, () => (toolChanges.length === 0 ? 'No pending tool changes.' : toolChanges.map(describeChange).join('\n\n')));
      }),
  );
  tools.addCommand(
    clientCommand('accept', 'Accept a tool\'s new definition: it is pinned, and shown and callable again.')
      .argument('<server>', 'MCP server name')
      .argument('<tool>', 'tool name, as the server names it')
      .argument('<hash>', 'the new definition\'s hash (see `portcullis tools changes`)')
      .action(async (server: string, tool: string, hash: string, options: ClientOptions) => {
        const { acceptToolChange } = await apiFor(options).request(AcceptToolChangeDocument, { server, tool, hash });
        emit(options, acceptToolChange, () => `Accepted: ${server}/${tool} is pinned to ${acceptToolChange.changed.hash}.`);
      }),
  );
  return tools;
}

/** One change: what it is, then each pinned field that differs, pinned value beside the new one. */
function describeChange(change: Change): string {
  const header = fields([
    ['Server', change.server],
    ['Tool', change.tool],
    ['Pinned', `${change.pinned.hash} (seen ${when(change.pinned.seenAt)})`],
    ['New', `${change.changed.hash} (seen ${when(change.changed.seenAt)})`],
  ]);
  const before = fieldsOf(change.pinned);
  const after = fieldsOf(change.changed);
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((name) => before[name] !== after[name]);
  return `${header}\n${table(['FIELD', 'PINNED', 'NEW'], names.map((name) => [name, before[name] ?? '', after[name] ?? '']))}`;
}

/** A definition's fields as text (the whole canonical JSON, when it was too long to keep whole). */
function fieldsOf(version: ToolDefinitionVersionFieldsFragment): Record<string, string> {
  if (!isRecord(version.definition)) return { definition: version.definitionText };
  return Object.fromEntries(Object.entries(version.definition).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]));
}
