import { boundForAudit, boundName } from '../server/audit/bound.js';
import type { AuditEventInput } from '../server/audit/types.js';
import type { JsonRpcId, JsonRpcRequest } from './jsonrpc.js';

export type SessionAuditEvent = Omit<AuditEventInput, 'actor' | 'sessionId'>;

/**
 * MCP's tool-name rule (2025-11-25 spec, tools: 1 to 128 of A-Z a-z 0-9 _ - .). A name
 * outside it can never be granted, and is refused before any pattern sees it.
 */
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export function isToolName(name: string): boolean {
  return TOOL_NAME.test(name);
}

/** JSON-RPC params as audited: bounded (server/audit/bound.ts), with the whole's hash when cut. */
export function auditedParams(params: unknown): Record<string, unknown> {
  const bounded = boundForAudit(params ?? null);
  return bounded.truncated ? { params: bounded.value, paramsTruncated: bounded.truncated } : { params: bounded.value };
}

/** The `mcp.request` event for a client request: method, id, tool, params (bounded, then redacted by the audit log's policy), outcome. */
export function requestEvent(request: JsonRpcRequest, tool: string | null, outcome: 'SUCCESS' | 'DENIED', extra?: Record<string, unknown>): SessionAuditEvent {
  const data = { method: request.method, id: auditedId(request.id), ...auditedParams(request.params) };
  return { type: 'mcp.request', outcome, tool: tool === null ? null : boundName(tool), data: extra === undefined ? data : { ...data, ...extra } };
}

export function auditedId(id: JsonRpcId | null): JsonRpcId | null {
  return typeof id === 'string' ? boundName(id) : id;
}

/** The tool a `tools/call` names, if it names one. */
export function toolOf(request: JsonRpcRequest): string | null {
  const params = request.params;
  return request.method === 'tools/call' && params && !Array.isArray(params) && typeof params.name === 'string' ? params.name : null;
}
