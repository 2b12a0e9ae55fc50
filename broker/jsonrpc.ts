import { z } from 'zod';
import { illFormedTextAt, toWellFormedDeep } from '../server/text/well-formed.js';

/**
 * JSON-RPC 2.0 as MCP uses it, validated at the edge. The broker decides on the parsed
 * value and forwards its re-serialisation, never the raw frame: duplicate keys, odd
 * spellings and other parser differentials cannot make the upstream see something other
 * than what was checked.
 */
export type JsonRpcId = string | number;

const id = z.union([z.string().max(256), z.number().int()]);
const params = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional();

const request = z.strictObject({ jsonrpc: z.literal('2.0'), id, method: z.string().min(1).max(256), params });
const notification = z.strictObject({ jsonrpc: z.literal('2.0'), method: z.string().min(1).max(256), params });
const result = z.strictObject({ jsonrpc: z.literal('2.0'), id, result: z.record(z.string(), z.unknown()) });
const error = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: id.nullable(),
  error: z.strictObject({ code: z.number().int(), message: z.string(), data: z.unknown().optional() }),
});

export type JsonRpcRequest = z.infer<typeof request>;
export type JsonRpcNotification = z.infer<typeof notification>;
export type JsonRpcResult = z.infer<typeof result>;
export type JsonRpcError = z.infer<typeof error>;
export type JsonRpcMessage =
  | ({ kind: 'request' } & JsonRpcRequest)
  | ({ kind: 'notification' } & JsonRpcNotification)
  | ({ kind: 'result' } & JsonRpcResult)
  | ({ kind: 'error' } & JsonRpcError);

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INTERNAL_ERROR = -32603;
/** Portcullis: the broker refused the request (data.reason says why). */
export const ACCESS_DENIED = -32001;

export type DenialReason =
  | 'tool_not_granted'
  | 'resource_not_granted'
  | 'prompt_not_granted'
  | 'method_not_granted'
  | 'argument_not_allowed'
  | 'rate_limited'
  | 'tool_definition_changed'
  | 'anomaly'
  | 'grant_expired'
  | 'grant_revoked'
  | 'credential_revoked'
  | 'credential_expired'
  | 'broker_unavailable'
  | 'duplicate_request_id';

/**
 * A frame that parsed, or the reply refusing it. A message refused for ill-formed text
 * comes back mended (lone surrogates as U+FFFD), so its refusal can be audited like any
 * other; the mended text is never forwarded.
 */
export type Parsed =
  | { ok: true; message: JsonRpcMessage }
  | { ok: false; reply: JsonRpcError; illFormed?: { message: JsonRpcMessage; at: string } };

/** One frame, one message: batches are refused (MCP dropped JSON-RPC batching in 2025-06-18). */
export function parseFrame(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reply: errorReply(null, PARSE_ERROR, 'Parse error') };
  }
  if (Array.isArray(value)) return { ok: false, reply: errorReply(null, INVALID_REQUEST, 'Invalid Request: batches are not supported') };
  // Decoded text is well-formed (ws checks the UTF-8): only a `\uD800`-`\uDFFF` escape can
  // make a lone surrogate, so the walk runs only when the frame holds one.
  const at = SURROGATE_ESCAPE.test(text) ? illFormedTextAt(value) : null;
  if (at !== null) return refuseIllFormed(value, at);
  const message = classify(value);
  return message ? { ok: true, message } : { ok: false, reply: errorReply(null, INVALID_REQUEST, 'Invalid Request') };
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** I-JSON (RFC 7493 §2.1): no lone surrogates; such text could not be audited, so it is not acted on. */
function refuseIllFormed(value: unknown, at: string): Parsed {
  const original = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
  const id = typeof original === 'number' || (typeof original === 'string' && original.isWellFormed() && original.length <= 256) ? original : null;
  const reply = errorReply(id, INVALID_REQUEST, `Invalid Request: ill-formed Unicode text (a lone UTF-16 surrogate) at ${at.slice(0, 200)}`, { reason: 'ill_formed_text' });
  const mended = classify(toWellFormedDeep(value));
  return mended ? { ok: false, reply, illFormed: { message: mended, at } } : { ok: false, reply };
}

/** Validates a message from an upstream (already parsed by its transport). */
export function classify(value: unknown): JsonRpcMessage | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if ('method' in v) {
    const parsed = 'id' in v ? request.safeParse(v) : notification.safeParse(v);
    if (!parsed.success) return null;
    return 'id' in parsed.data ? { kind: 'request', ...(parsed.data as JsonRpcRequest) } : { kind: 'notification', ...parsed.data };
  }
  if ('result' in v) {
    const parsed = result.safeParse(v);
    return parsed.success ? { kind: 'result', ...parsed.data } : null;
  }
  if ('error' in v) {
    const parsed = error.safeParse(v);
    return parsed.success ? { kind: 'error', ...parsed.data } : null;
  }
  return null;
}

/** The message as it goes on the wire (without our `kind` tag). */
export function wire(message: JsonRpcMessage): Omit<JsonRpcMessage, 'kind'> {
  const { kind: _kind, ...rest } = message;
  return rest;
}

export function errorReply(requestId: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcError {
  return { jsonrpc: '2.0', id: requestId, error: data === undefined ? { code, message } : { code, message, data } };
}

export function denial(requestId: JsonRpcId, reason: DenialReason, detail: string, data?: Record<string, unknown>): JsonRpcError {
  return errorReply(requestId, ACCESS_DENIED, `Access denied: ${detail}`, { reason, ...data });
}
