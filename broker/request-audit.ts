import type { AuditEventInput } from '../server/audit/types.js';
import type { JsonRpcRequest } from './jsonrpc.js';

/** Largest params kept in an audit event; bigger ones are summarised. */
const MAX_AUDITED_PARAMS = 4096;

export type SessionAuditEvent = Omit<AuditEventInput, 'actor' | 'sessionId'>;

/** The `mcp.request` event for a client request: method, id, tool, params (redacted by the audit log's policy), outcome. */
export function requestEvent(request: JsonRpcRequest, tool: string | null, outcome: 'SUCCESS' | 'DENIED', extra?: Record<string, unknown>): SessionAuditEvent {
  const params = request.params ?? null;
  const json = JSON.stringify(params);
  const data = { method: request.method, id: request.id, params: json.length > MAX_AUDITED_PARAMS ? { truncated: true, bytes: json.length } : params };
  return { type: 'mcp.request', outcome, tool, data: extra === undefined ? data : { ...data, ...extra } };
}

/** The tool a `tools/call` names, if it names one. */
export function toolOf(request: JsonRpcRequest): string | null {
  const params = request.params;
  return request.method === 'tools/call' && params && !Array.isArray(params) && typeof params.name === 'string' ? params.name : null;
}
