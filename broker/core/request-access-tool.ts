import { z } from 'zod';
import type { RequestAsk } from '../../server/access/access-policy.js';
import type { FiledByAgent } from '../../server/access/types.js';
import { PortcullisError } from '../../server/errors.js';
import type { Principal } from '../../server/identity/principal.js';
import { parseDuration } from '../../server/text/durations.js';
import type { JsonRpcRequest } from '../jsonrpc.js';
import { requestEvent } from '../request-audit.js';
import { isRecord } from './json.js';
import type { Call, SessionCore } from './session-core.js';

export const REQUEST_ACCESS_TOOL = 'portcullis__request_access';

/** What the broker does with a request the tool files: the access service's own createRequest. */
export type RequestAccess = (principal: Principal, ask: RequestAsk & { reason: string }, filedBy: FiledByAgent) => Promise<{ id: string; status: string; grantId: string | null }>;

/** The tool as tools/list shows it on the federated endpoint. */
export const REQUEST_ACCESS_DEFINITION = {
  name: REQUEST_ACCESS_TOOL,
  title: 'Request access (Portcullis)',
  description:
    'Ask for time-boxed access to an MCP server behind Portcullis. Files an ordinary access request under your company\'s rules; an approver reviews it (requests filed by an assistant are never approved automatically unless your operator allows it). When it is approved, the granted tools appear in this session without reconnecting.',
  inputSchema: {
    type: 'object',
    properties: {
      server: { type: 'string', description: 'The MCP server to access, as Portcullis names it.' },
      tools: { type: 'array', items: { type: 'string' }, description: 'Tool names or patterns (omit for every tool you may request).' },
      resources: { type: 'array', items: { type: 'string' }, description: 'Resource URI patterns (omit for what the rule offers).' },
      prompts: { type: 'array', items: { type: 'string' }, description: 'Prompt names or patterns (omit for what the rule offers).' },
      readOnly: { type: 'boolean', description: 'Ask for read-only tools only.' },
      duration: { type: 'string', description: 'How long, like 30m, 2h or 1h30m.' },
      reason: { type: 'string', description: 'Why the access is needed; the approver reads it.' },
    },
    required: ['server', 'duration', 'reason'],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
} as const;

const patterns = z.array(z.string().max(2048)).max(50);
const ARGUMENTS = z.strictObject({
  server: z.string().min(1).max(64),
  tools: patterns.optional(),
  resources: patterns.optional(),
  prompts: patterns.optional(),
  readOnly: z.boolean().optional(),
  duration: z.string().max(32),
  reason: z.string().min(1).max(2000),
});

/**
 * A call of the broker tool: audited like any call, then filed through the access service
 * as the session's person, marked as an agent's. Bad arguments and refusals are the
 * tool's errors (isError results a model can read and correct), not protocol errors.
 */
export async function callRequestAccess(core: SessionCore, request: JsonRpcRequest, call: Call, requestAccess: RequestAccess): Promise<void> {
  if (!(await core.audited(call, { ...requestEvent(request, REQUEST_ACCESS_TOOL, 'SUCCESS'), server: null }))) return;
  const args = isRecord(request.params) ? request.params.arguments : undefined;
  const answer = (text: string, isError = false) => core.reply(call, { jsonrpc: '2.0', id: request.id, result: { content: [{ type: 'text', text }], ...(isError ? { isError: true } : {}) } });
  const parsed = ARGUMENTS.safeParse(args ?? {});
  if (!parsed.success) return answer(`Invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}`, true);
  const { duration, ...ask } = parsed.data;
  let durationSeconds: number;
  try {
    durationSeconds = parseDuration(duration);
  } catch (error) {
    return answer(`Invalid arguments: duration: ${(error as Error).message}`, true);
  }
  try {
    const filed = await requestAccess(core.principal, { ...ask, durationSeconds }, { client: clientName(core.clientInfo), sessionId: core.id });
    if (filed.grantId !== null) return answer(`Access request ${filed.id} was approved: the tools of ${ask.server} appear in this session now.`);
    return answer(`Access request ${filed.id} is ${filed.status.toLowerCase()}: an approver must review it. When it is approved, the tools of ${ask.server} appear in this session (tools/list_changed).`);
  } catch (error) {
    if (error instanceof PortcullisError) return answer(`Refused (${error.code}): ${error.message}`, true);
    throw error;
  }
}

function clientName(info: unknown): string | null {
  return isRecord(info) && typeof info.name === 'string' ? info.name.slice(0, 128) : null;
}
