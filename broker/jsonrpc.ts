import { illFormedTextAt, toWellFormedDeep } from '../server/text/well-formed.js';
import { isRecord } from './core/json.js';

/**
 * JSON-RPC 2.0 as MCP uses it, validated at the edge. The broker decides on the parsed
 * value and forwards its re-serialisation, never the raw frame: duplicate keys, odd
 * spellings and other parser differentials cannot make the upstream see something other
 * than what was checked.
 */
export type JsonRpcId = string | number;
type Params = Record<string, unknown> | unknown[];

export type JsonRpcRequest = {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Params | undefined;
};
export type JsonRpcNotification = Omit<JsonRpcRequest, 'id'>;
export type JsonRpcResult = {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: Record<string, unknown>;
};
export type JsonRpcError = {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: { code: number; message: string; data?: unknown };
};
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
  if (mayNestDeeper(text.length) && nestedDeeperThan(value, MAX_NESTING)) return { ok: false, reply: errorReply(null, INVALID_REQUEST, `Invalid Request: nested deeper than ${MAX_NESTING} levels`) };
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

/**
 * How deep objects and arrays may nest in a message. JSON.parse takes any depth, but
 * JSON.stringify (and every walk of ours: redaction, canonical JSON) recurses and throws
 * past a few thousand levels, where nothing could catch it: a message relayed from an
 * event handler would end the process. Real MCP messages, JSON Schemas included, stay far
 * below this.
 */
export const MAX_NESTING = 128;

/** Whether a message of this many characters or bytes can nest past MAX_NESTING (each level takes two): most cannot, and are not walked. */
function mayNestDeeper(length: number): boolean {
  return length > 2 * MAX_NESTING;
}

/** Whether objects and arrays nest in `value` deeper than `limit` levels; walked with a stack of its own, not by recursion. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const nodes: object[] = [value];
  const depths: number[] = [1];
  const push = (child: unknown, depth: number) => {
    if (typeof child !== 'object' || child === null) return;
    nodes.push(child);
    depths.push(depth);
  };
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    // Every relayed message passes here: arrays by index (for-in would make a string of each), no array of values made per object.
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) push(node[i], depth + 1);
    } else {
      for (const key in node) push((node as Record<string, unknown>)[key], depth + 1);
    }
  }
  return false;
}

/**
 * A server's message, as `classify` takes it; one nested past MAX_NESTING could not be
 * relayed, audited or even logged whole: it is dropped, an answer of that kind becomes an
 * error answer to its request (the client's call ends instead of waiting for good), and a
 * request of that kind is refused to the server (`refusal`; `refused` is that request
 * without its params, for the record).
 */
export function classifyUpstream(value: unknown, bytes: number): { message: JsonRpcMessage | null; refusal?: JsonRpcError; refused?: JsonRpcRequest } {
  if (!mayNestDeeper(bytes) || !nestedDeeperThan(value, MAX_NESTING)) return { message: classify(value) };
  const id = isRecord(value) && isId(value.id) ? value.id : undefined;
  if (id === undefined) return { message: null };
  // A request of the client: refused to the server that asked, so it does not wait for ever.
  if (isRecord(value) && 'method' in value) {
    const refusal = errorReply(id, INVALID_REQUEST, `Invalid Request: nested deeper than ${MAX_NESTING} levels`);
    return { message: null, refusal, ...(isMethod(value.method) ? { refused: { jsonrpc: '2.0', id, method: value.method } } : {}) };
  }
  return { message: { kind: 'error', jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: `the server's answer nests deeper than ${MAX_NESTING} levels` } } };
}

/**
 * Validates a message from a client or an upstream (already parsed): exactly the members
 * JSON-RPC 2.0 gives each kind, nothing more. Checked by hand, not with a schema library,
 * because every relayed message passes here (issue 22); the result is a new object in the
 * members' order, so what is forwarded and audited is what was checked.
 */
export function classify(value: unknown): JsonRpcMessage | null {
  if (!isRecord(value) || value.jsonrpc !== '2.0') return null;
  if ('method' in value) {
    if (!isMethod(value.method) || !('params' in value ? isParams(value.params) : true)) return null;
    if (!('id' in value)) return hasOnly(value, NOTIFICATION_MEMBERS) ? { kind: 'notification', jsonrpc: '2.0', method: value.method, ...paramsOf(value) } : null;
    return isId(value.id) && hasOnly(value, REQUEST_MEMBERS) ? { kind: 'request', jsonrpc: '2.0', id: value.id, method: value.method, ...paramsOf(value) } : null;
  }
  if ('result' in value) {
    return isId(value.id) && isPlainRecord(value.result) && hasOnly(value, RESULT_MEMBERS) ? { kind: 'result', jsonrpc: '2.0', id: value.id, result: withoutProto(value.result) } : null;
  }
  if ('error' in value) {
    const { id, error } = value;
    if (!(id === null || isId(id)) || !hasOnly(value, ERROR_MEMBERS) || !isRecord(error) || !hasOnly(error, ERROR_OBJECT_MEMBERS)) return null;
    const { code, message } = error;
    if (!Number.isSafeInteger(code) || typeof message !== 'string') return null;
    return { kind: 'error', jsonrpc: '2.0', id, error: 'data' in error ? { code: code as number, message, data: error.data } : { code: code as number, message } };
  }
  return null;
}

const REQUEST_MEMBERS = new Set(['jsonrpc', 'id', 'method', 'params']);
const NOTIFICATION_MEMBERS = new Set(['jsonrpc', 'method', 'params']);
const RESULT_MEMBERS = new Set(['jsonrpc', 'id', 'result']);
const ERROR_MEMBERS = new Set(['jsonrpc', 'id', 'error']);
const ERROR_OBJECT_MEMBERS = new Set(['code', 'message', 'data']);
const MAX_TEXT_ID = 256;
const MAX_METHOD = 256;

function hasOnly(value: object, members: ReadonlySet<string>): boolean {
  for (const key in value) if (!members.has(key)) return false;
  return true;
}

export function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' ? value.length <= MAX_TEXT_ID : Number.isSafeInteger(value);
}

function isMethod(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_METHOD;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && isPlain(value);
}

function isParams(value: unknown): value is Params | undefined {
  return value === undefined || Array.isArray(value) || isPlainRecord(value);
}

function isPlain(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function paramsOf(value: Record<string, unknown>): { params?: Params | undefined } {
  if (!('params' in value)) return {};
  const params = value.params as Params | undefined;
  return { params: isRecord(params) ? withoutProto(params) : params };
}

/**
 * An own `__proto__` member (JSON.parse makes one) is dropped from params and results, as
 * the schema library this replaced did: a later copy by assignment would set a prototype.
 */
function withoutProto(record: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(record, '__proto__')) return record;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) if (key !== '__proto__') copy[key] = record[key];
  return copy;
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
