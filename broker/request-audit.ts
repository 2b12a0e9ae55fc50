import { boundName } from '../server/audit/bound.js';
import type { AuditEventInput } from '../server/audit/types.js';
import { illFormedTextAt, toWellFormedDeep } from '../server/text/well-formed.js';
import type { JsonRpcId, JsonRpcMessage, JsonRpcRequest } from './jsonrpc.js';

export type SessionAuditEvent = Omit<AuditEventInput, 'actor' | 'sessionId'>;

/**
 * The `mcp.request` event for a client request: method, id, tool, params (redacted, then
 * cut to size by the audit log: `bounded`), outcome; an allowed `tools/call` also carries
 * `argumentsDigest`.
 */
export function requestEvent(request: JsonRpcRequest, tool: string | null, outcome: 'SUCCESS' | 'DENIED', extra?: Record<string, unknown>): SessionAuditEvent {
  return {
    type: 'mcp.request',
    outcome,
    tool: tool === null ? null : boundName(tool),
    data: { method: request.method, id: auditedId(request.id), params: request.params ?? null, ...extra },
    bounded: ['params'],
    ...(outcome === 'SUCCESS' && request.method === 'tools/call' ? { digests: ARGUMENTS_DIGEST } : {}),
  };
}

/**
 * An allowed `tools/call` whose params the log cuts carries `argumentsDigest`, for the
 * outlier detector's `breadth` rule (distinct argument values of one tool): taken by the
 * log from the arguments as redacted, before the cut, so padding the params past 8 KiB
 * still counts each call (and no digest holds a bit of a redacted secret). Uncut params
 * are digested by the detector itself, alike.
 */
const ARGUMENTS_DIGEST = { argumentsDigest: ['params', 'arguments'] } as const;

/** `mcp.response` for a tool result: its size and whether it reports an error, never its content. */
export function responseEvent(request: JsonRpcRequest, tool: string, bytes: number, isError: boolean): SessionAuditEvent {
  return { type: 'mcp.response', outcome: 'SUCCESS', tool: boundName(tool), data: { method: request.method, id: auditedId(request.id), bytes, isError } };
}

/** A client frame refused without a reply of its own: a request (as `mcp.request`) or a notification. */
export function refusedFrameEvent(message: JsonRpcMessage & { kind: 'request' | 'notification' }, data: Record<string, unknown>): SessionAuditEvent {
  if (message.kind === 'request') return requestEvent(message, null, 'DENIED', data);
  return { type: 'mcp.notification', outcome: 'DENIED', data: { method: message.method, params: message.params ?? null, ...data }, bounded: ['params'] };
}

/**
 * `mcp.server_request` for a request an upstream makes of the client (sampling,
 * elicitation, roots). The upstream's text is not checked at our edge, so an ill-formed
 * copy is mended for the record (server/text/well-formed.ts); what is relayed is what it sent.
 */
export function serverRequestEvent(message: JsonRpcRequest, outcome: 'SUCCESS' | 'DENIED', extra?: Record<string, unknown>): SessionAuditEvent {
  const sent = { method: message.method, id: message.id, params: message.params ?? null };
  const audited = (illFormedTextAt(sent) === null ? sent : { ...(toWellFormedDeep(sent) as typeof sent), illFormedText: true }) as typeof sent;
  return { type: 'mcp.server_request', outcome, data: { direction: 'request', ...audited, id: auditedId(audited.id), ...extra }, bounded: ['params'] };
}

/** `mcp.server_request` for the client's answer to one: its outcome (and error code), never its content. */
export function clientAnswerEvent(id: JsonRpcId, outcome: AuditEventInput['outcome'], extra?: Record<string, unknown>): SessionAuditEvent {
  return { type: 'mcp.server_request', outcome, data: { direction: 'answer', id: auditedId(id), ...extra } };
}

export function auditedId(id: JsonRpcId | null): JsonRpcId | null {
  return typeof id === 'string' ? boundName(id) : id;
}

/** The tool a `tools/call` names, if it names one. */
export function toolOf(request: JsonRpcRequest): string | null {
  const params = request.params;
  return request.method === 'tools/call' && params && !Array.isArray(params) && typeof params.name === 'string' ? params.name : null;
}
