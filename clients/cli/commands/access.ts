import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { isRecord } from '../../../broker/core/json.js';
import {
  AccessRequestsDocument,
  CancelAccessRequestDocument,
  CreateAccessRequestDocument,
  GrantsDocument,
  McpServersDocument,
  ReviewAccessRequestDocument,
  RevokeGrantDocument,
} from '../../graphql/generated/graphql.js';
import type { AccessRequestFieldsFragment, AccessRequestStatus, ReviewAccessRequestInput } from '../../graphql/generated/graphql.js';
import { formatDuration } from '../../../server/text/durations.js';
import { EXIT } from '../exit-codes.js';
import { list, table, when } from '../output.js';
import { describeRequest, kindsCell, scopeCells } from './access-display.js';
import { apiFor, clientCommand, collect, countOption, durationOption, emit, jsonObjectOption, listOption } from './client-command.js';
import type { ClientOptions } from './client-command.js';
import { waitForDecision } from './wait-for-decision.js';

type RequestFields = AccessRequestFieldsFragment;

export function accessCommands(): Command[] {
  return [serversCommand(), requestCommand(), requestsCommand(), approveCommand(), denyCommand(), cancelCommand(), grantsCommand(), revokeCommand()];
}

function serversCommand(): Command {
  return clientCommand('servers', 'List the MCP servers, and what you may request and review on each.').action(async (options: ClientOptions) => {
    const { mcpServers } = await apiFor(options).request(McpServersDocument, {});
    emit(options, mcpServers, () =>
      table(
        ['NAME', 'TRANSPORT', 'REQUESTABLE', 'REVIEWABLE', 'ALLOWED-METHODS', 'DESCRIPTION'],
        mcpServers.map((s) => [s.name, s.transport, kindsCell(s, 'requestable'), kindsCell(s, 'reviewable'), list(s.allowedMethods), s.description ?? '']),
      ),
    );
  });
}

function requestCommand(): Command {
  return clientCommand('request', 'Ask for time-boxed access to an MCP server (or some of its tools, resources and prompts).')
    .argument('<server>', 'MCP server name (see `portcullis servers`)')
    .option('--tools <names>', 'tools or patterns, comma-separated (default: every tool you may request)', listOption)
    .option('--resources <patterns>', 'resource URI patterns, comma-separated, `*` matching any run of characters (default: those the rule allows, none unless it names some)', listOption)
    .option('--prompts <names>', 'prompts or patterns, comma-separated (default: those the rule allows, none unless it names some)', listOption)
    .option('--read-only', 'only the tools that are read-only when the grant is made (by their annotations, or the operator\'s list)')
    .requiredOption('--reason <text>', 'why you need it (reviewers and the audit log see this)')
    .requiredOption('--for <duration>', 'how long, like 90m, 2h or 1d', durationOption)
    .option('--wait', 'wait until the request is decided, then print the grant or the denial (exit 3 unless approved)')
    .addOption(new Option('--recheck <duration>', 'while waiting, also re-read the request this often (a missed event costs at most this)').argParser(durationOption).default(15, '15s'))
    .action(async (server: string, options: ClientOptions & { tools?: string[]; resources?: string[]; prompts?: string[]; readOnly?: boolean; reason: string; for: number; wait?: boolean; recheck: number }) => {
      const api = apiFor(options);
      const input = {
        server,
        tools: options.tools ?? null,
        resources: options.resources ?? null,
        prompts: options.prompts ?? null,
        readOnly: options.readOnly ?? null,
        reason: options.reason,
        durationSeconds: options.for,
      };
      const create = async () => (await api.request(CreateAccessRequestDocument, { input })).createAccessRequest;
      const request = options.wait
        ? await waitForDecision(
            api,
            create,
            (created) => console.error(`Request ${created.id} is pending review; waiting for a decision (Ctrl-C stops waiting, the request stays open)...`),
            options.recheck * 1000,
          )
        : await create();
      showDecision(options, request);
      if (options.wait && request.status !== 'APPROVED') process.exit(EXIT.notGranted);
    });
}

function requestsCommand(): Command {
  return clientCommand('requests', 'List access requests you may see: your own, and those you may review.')
    .option('--pending', 'only requests waiting for review')
    .option('--mine', 'only your own requests')
    .option('--limit <n>', 'at most this many, newest first', countOption, 50)
    .action(async (options: ClientOptions & { pending?: boolean; mine?: boolean; limit: number }) => {
      const api = apiFor(options);
      const status: AccessRequestStatus | null = options.pending ? 'PENDING' : null;
      const items = await collect(options.limit, async (after, first) => (await api.request(AccessRequestsDocument, { status, mine: options.mine ?? null, first, after })).accessRequests);
      emit(options, items, () =>
        table(
          ['ID', 'STATUS', 'SERVER', 'TOOLS', 'RESOURCES', 'PROMPTS', 'ARGUMENTS', 'REQUESTER', 'FOR', 'CREATED', 'REASON'],
          items.map((r) => [r.id, r.status, r.server, ...scopeCells(r), r.filedByAgent ? `${r.requester.email} (agent)` : r.requester.email, formatDuration(r.durationSeconds), when(r.createdAt), r.reason]),
        ),
      );
    });
}

function approveCommand(): Command {
  return clientCommand('approve', 'Approve a request you may review.')
    .argument('<id>', 'access request id')
    .option('--for <duration>', 'allow less time than was asked for, like 30m', durationOption)
    .option('--reason <text>', 'why (recorded in the audit log)')
    .option(
      '--arguments <json>',
      'narrow the arguments: per tool name, a JSON Schema its calls must also satisfy (added to the rule\'s), as JSON or @file, like \'{"read-file":{"type":"object","properties":{"path":{"pattern":"^/srv/docs/"}}}}\'',
      argumentRulesOption,
    )
    .action(async (id: string, options: ClientOptions & { for?: number; reason?: string; arguments?: Record<string, unknown> }) => {
      await review(options, { requestId: id, decision: 'APPROVE', durationSeconds: options.for ?? null, reason: options.reason ?? null, arguments: options.arguments ?? null });
    });
}

function denyCommand(): Command {
  return clientCommand('deny', 'Deny a request you may review.')
    .argument('<id>', 'access request id')
    .requiredOption('--reason <text>', 'why (the requester sees it)')
    .action(async (id: string, options: ClientOptions & { reason: string }) => {
      await review(options, { requestId: id, decision: 'DENY', durationSeconds: null, reason: options.reason, arguments: null });
    });
}

function cancelCommand(): Command {
  return clientCommand('cancel', 'Withdraw one of your pending requests.')
    .argument('<id>', 'access request id')
    .action(async (id: string, options: ClientOptions) => {
      const { cancelAccessRequest } = await apiFor(options).request(CancelAccessRequestDocument, { id });
      showDecision(options, cancelAccessRequest);
    });
}

function grantsCommand(): Command {
  return clientCommand('grants', 'List your active grants (auditors: everyone\'s).')
    .option('--all', 'ended grants too')
    .option('--limit <n>', 'at most this many, newest first', countOption, 50)
    .action(async (options: ClientOptions & { all?: boolean; limit: number }) => {
      const api = apiFor(options);
      const items = await collect(options.limit, async (after, first) => (await api.request(GrantsDocument, { active: options.all ? null : true, first, after })).grants);
      emit(options, items, () =>
        table(
          ['ID', 'SERVER', 'TOOLS', 'RESOURCES', 'PROMPTS', 'ARGUMENTS', 'STATUS', 'USER', 'EXPIRES'],
          items.map((g) => [g.id, g.server, ...scopeCells(g), g.status, g.user.email, g.status === 'REVOKED' ? `revoked ${when(g.revokedAt)}` : when(g.expiresAt)]),
        ),
      );
    });
}

function revokeCommand(): Command {
  return clientCommand('revoke', 'End a grant now, on every broker instance (its live sessions are closed).')
    .argument('<grant-id>', 'grant id')
    .requiredOption('--reason <text>', 'why (the grant holder and the audit log see it)')
    .action(async (id: string, options: ClientOptions & { reason: string }) => {
      const { revokeGrant } = await apiFor(options).request(RevokeGrantDocument, { id, reason: options.reason });
      emit(options, revokeGrant, () => `Revoked grant ${revokeGrant.id} on ${revokeGrant.server} (${revokeGrant.user.email}).`);
    });
}

async function review(options: ClientOptions, input: ReviewAccessRequestInput): Promise<void> {
  const { reviewAccessRequest } = await apiFor(options).request(ReviewAccessRequestDocument, { input });
  showDecision(options, reviewAccessRequest);
}

function showDecision(options: ClientOptions, request: RequestFields): void {
  emit(options, request, () => describeRequest(request));
}

/** `--arguments` of approve: per tool name, a JSON Schema (an object); the broker checks the schemas themselves. */
function argumentRulesOption(value: string): Record<string, unknown> {
  const rules = jsonObjectOption(value);
  const notSchema = Object.entries(rules).find(([, schema]) => !isRecord(schema));
  if (notSchema) throw new InvalidArgumentError(`expected, per tool name, a JSON Schema object: "${notSchema[0]}" is not one`);
  if (Object.keys(rules).length === 0) throw new InvalidArgumentError('expected at least one tool name');
  return rules;
}
