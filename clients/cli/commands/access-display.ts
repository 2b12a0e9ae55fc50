import { isRecord } from '../../../broker/core/json.js';
import type { AccessRequestFieldsFragment, GrantFieldsFragment, McpServersQuery } from '../../graphql/generated/graphql.js';
import { formatDuration } from '../../../server/text/durations.js';
import { fields, list, when } from '../output.js';

type RequestFields = AccessRequestFieldsFragment;
type GrantFields = GrantFieldsFragment;
type McpServerFields = McpServersQuery['mcpServers'][number];

/** What a request asks for and a grant allows, of every kind. */
type Scope = Pick<RequestFields, 'tools' | 'deniedTools' | 'resources' | 'deniedResources' | 'prompts' | 'deniedPrompts' | 'readOnly' | 'argumentRules'> & {
  coveredTools?: string[] | null;
};

/** The request's own fields, its reviews and, once issued, its grant: `Label  value` lines. */
export function describeRequest(r: RequestFields): string {
  const lines: [string, string][] = [
    ['Request', r.id],
    ['Status', r.status],
    ['Server', r.server],
    ['Rule', r.rule ?? ''],
    ['Tools', patterns(r.tools, r.deniedTools)],
    ['Resources', patterns(r.resources, r.deniedResources)],
    ['Prompts', patterns(r.prompts, r.deniedPrompts)],
    ['Read-only', r.readOnly ? 'yes (only tools read-only when granted)' : 'no'],
    ...argumentLines('Arguments', r.argumentRules),
    ['Requester', r.requester.email],
    // A model filed it from inside an MCP client: a prompt-injected one could have.
    ['Filed by', r.filedByAgent ? `an agent, through ${r.agentClient ?? 'an unnamed MCP client'}: confirm with the requester` : 'the requester'],
    ['For', formatDuration(r.durationSeconds)],
    ['Reason', r.reason],
  ];
  if (r.status === 'PENDING') lines.push(['Review by', when(r.expiresAt)]);
  for (const review of r.reviews) {
    const narrowed = Object.keys(argumentRulesOf(review.arguments));
    const note = `${review.reason ? `: ${review.reason}` : ''}${narrowed.length > 0 ? ` (narrowed the arguments of ${list(narrowed)})` : ''}`;
    lines.push([review.decision === 'APPROVE' ? 'Approved by' : 'Denied by', `${review.reviewer.email}${note}`]);
  }
  if (r.grant) lines.push(...grantLines(r.grant));
  return fields(lines);
}

/**
 * A grant as it stands: a read-only grant names the tools it covers after the read-only
 * filter (its patterns say only what it may cover), and its argument rules include every
 * approver's narrowing.
 */
function grantLines(g: GrantFields): [string, string][] {
  return [
    ['Grant', g.id],
    ['Grant status', g.status],
    ['Grant tools', patterns(g.tools, g.deniedTools)],
    ...(g.coveredTools ? [['Covers (read-only)', list(g.coveredTools) || 'none'] as [string, string]] : []),
    ...argumentLines('Grant arguments', g.argumentRules),
    ['Expires', when(g.expiresAt)],
  ];
}

/** TOOLS, RESOURCES, PROMPTS and ARGUMENTS cells of a request or grant row (ARGUMENTS: the tools with argument rules). */
export function scopeCells(scope: Scope): string[] {
  return [toolsCell(scope), patterns(scope.resources, scope.deniedResources), patterns(scope.prompts, scope.deniedPrompts), list(Object.keys(argumentRulesOf(scope.argumentRules)))];
}

/** A server's REQUESTABLE or REVIEWABLE cell: each kind that has patterns, `tools: *; prompts: simple-prompt`. */
export function kindsCell(server: McpServerFields, as: 'requestable' | 'reviewable'): string {
  const kinds = as === 'requestable' ? { tools: server.requestableTools, resources: server.requestableResources, prompts: server.requestablePrompts } : { tools: server.reviewableTools, resources: server.reviewableResources, prompts: server.reviewablePrompts };
  return Object.entries(kinds)
    .filter(([, values]) => values.length > 0)
    .map(([kind, values]) => `${kind}: ${list(values)}`)
    .join('; ');
}

/** Tool patterns; `(read-only)` on a request, and on a grant the tools it covers after that filter. */
function toolsCell(scope: Scope): string {
  const tools = patterns(scope.tools, scope.deniedTools);
  if (!scope.readOnly) return tools;
  return scope.coveredTools ? `${tools} (read-only: covers ${list(scope.coveredTools) || 'none'})` : `${tools} (read-only)`;
}

/** `* except *delete*`: patterns and the patterns excluded from them (nothing when none allowed). */
function patterns(allowed: readonly string[], denied: readonly string[]): string {
  if (allowed.length === 0) return '';
  return denied.length > 0 ? `${list(allowed)} except ${list(denied)}` : list(allowed);
}

/** One line per tool: its JSON Schemas (a call must satisfy them all). */
function argumentLines(label: string, rules: unknown): [string, string][] {
  return Object.entries(argumentRulesOf(rules)).map(([tool, schemas]) => [label, `${tool}: ${schemas.map((s) => JSON.stringify(s)).join(' and ')}`]);
}

/**
 * Argument rules as the API gives them (JSON: per tool, a list of schemas; a review's: per
 * tool, one schema), as per tool a list; anything else shows as none.
 */
function argumentRulesOf(value: unknown): Record<string, unknown[]> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).map(([tool, schemas]) => [tool, Array.isArray(schemas) ? schemas : [schemas]]));
}
