import type { Refused, Subject } from '../../server/access/grant-decision.js';
import type { JsonRpcError, JsonRpcRequest } from '../jsonrpc.js';
import type { SessionCore } from './session-core.js';

const WHAT: Record<Subject['kind'], string> = { tool: 'tool', resource: 'resource', resourceTemplate: 'resource template', prompt: 'prompt' };

/**
 * Refuses a request the session's grants do not allow. The client is told the reason, the
 * clause and (for an argument rule) the argument's path, never its value; the audit
 * record names the grant, the rule it was made under, the clause and the pattern.
 */
export function refuseByGrant(core: SessionCore, request: JsonRpcRequest, decision: Refused, shown: string, where: { server: string | null; kind: Subject['kind']; tool?: string | null; hint?: string }): Promise<JsonRpcError> {
  const named = `${WHAT[where.kind]} ${JSON.stringify(shown.slice(0, 256))}`;
  const { clause, grantId, rule, pattern, path, keyword, detail } = decision;
  const why = { clause, grantId, rule, pattern, ...(path === undefined ? {} : { path, keyword }), ...(detail === undefined ? {} : { detail }) };
  return core.refuse(request, decision.reason, `${explain(decision, named)}${where.hint ?? ''}`, {
    server: where.server,
    tool: where.tool ?? null,
    why,
    data: { clause, ...(path === undefined ? {} : { path }) },
  });
}

function explain(decision: Refused, named: string): string {
  switch (decision.clause) {
    case 'name_not_grantable':
      return `${named} can never be granted (${decision.detail ?? 'not a plain name'})`;
    case 'not_in_grant':
      return `${named} is not covered by your grant`;
    case 'denied_by_pattern':
      return `${named} is excluded by your grant`;
    case 'not_read_only':
      return `${named} is not read-only, and your grant covers read-only tools only`;
    case 'argument_rule':
      return `argument ${decision.path ?? '/'} of ${named} is outside what your grant allows (${decision.keyword ?? 'schema'})`;
  }
}
