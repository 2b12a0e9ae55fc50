import { hash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical-json.js';
import { relatedTaskOf } from '../../broker/core/federation-map.js';
import { isRecord } from '../../broker/core/json.js';
import type { AuditEvent } from '../audit/types.js';
import type { DenialKind, Observation } from './types.js';

/** Refusals by the grant: the user asked for something they were not given. */
const NOT_GRANTED = new Set(['tool_not_granted', 'method_not_granted', 'resource_not_granted', 'prompt_not_granted']);
/**
 * Refusals of a name no server of the session has (client-requests.ts): guessing at prompts,
 * resource URIs or other sessions' task ids looks for what one was not given as surely as
 * asking for it by its name.
 */
const UNKNOWN_NAME = new Set(['unknown_prompt', 'unknown_resource', 'unknown_task', 'unknown_reference']);

/** Base64url characters of a digest of recorded arguments: 96 bits, so distinct values are counted as distinct. */
const DIGEST_CHARS = 16;

/**
 * What the detector reads of an audit event, or null when it concerns no user (no actor,
 * the detector's own `anomaly.*` events, checkpoints, and every type it does not judge).
 * `roleOf` answers the role of the grant behind an allowed call (the caller has looked
 * it up already, so this stays synchronous and cheap).
 */
export function observe(event: AuditEvent, roleOf: (grantId: string) => string | null): Observation | null {
  const user = event.actor;
  if (user === null) return null;
  const data = event.data;
  switch (event.type) {
    case 'mcp.request': {
      const method = stringOr(data.method);
      if (event.outcome === 'DENIED') {
        const denial = denialOf(data.reason);
        return observation(event, user, 'denial', { method, denial, argumentsDigest: denial === 'unknown_name' ? unknownNamed(data) : null });
      }
      if (event.outcome !== 'SUCCESS') return null;
      const grantId = stringOr(data.grantId);
      const params = data.params;
      return observation(event, user, 'call', {
        method,
        grantId,
        role: grantId === null ? null : roleOf(grantId),
        paramsBytes: paramsBytes(params, data.paramsTruncated),
        argumentsDigest: askedFor(method, data),
        client: method === 'initialize' && isRecord(params) ? introducedClient(params.clientInfo) : null,
      });
    }
    case 'oauth.token.refused':
      return observation(event, user, 'denial', { denial: 'token_refused' });
    case 'mcp.session.refused':
      return observation(event, user, 'denial', { denial: 'upgrade_refused' });
    case 'mcp.session.start': {
      const oauth = data.oauthClient;
      const client = isRecord(oauth) && typeof oauth.id === 'string' ? { name: stringOr(oauth.name) ?? oauth.id, version: null, oauthClientId: oauth.id } : null;
      return observation(event, user, 'session', { client });
    }
    case 'mcp.response':
      return observation(event, user, 'result', { method: stringOr(data.method), resultBytes: typeof data.bytes === 'number' ? data.bytes : null });
    default:
      return null;
  }
}

/** The grant an allowed `mcp.request` was let through by: whose role `observe` asks for. */
export function grantIdOf(event: AuditEvent): string | null {
  return event.type === 'mcp.request' && event.outcome === 'SUCCESS' && event.actor !== null ? stringOr(event.data.grantId) : null;
}

/** The role a grant's rule (`<role>/request/<index>`) names; null for a grant without one. */
export function roleOfRule(rule: string | null): string | null {
  if (rule === null) return null;
  const slash = rule.indexOf('/');
  return slash > 0 ? rule.slice(0, slash) : null;
}

type Fields = Partial<Pick<Observation, 'method' | 'role' | 'grantId' | 'client' | 'paramsBytes' | 'resultBytes' | 'argumentsDigest' | 'denial'>>;

/** Every observation has the same shape (one hidden class for the rules' hot path). */
function observation(event: AuditEvent, user: string, kind: Observation['kind'], fields: Fields): Observation {
  return {
    event,
    at: Date.parse(event.time),
    user,
    kind,
    server: event.server,
    tool: event.tool,
    method: fields.method ?? null,
    role: fields.role ?? null,
    grantId: fields.grantId ?? null,
    client: fields.client ?? null,
    paramsBytes: fields.paramsBytes ?? null,
    resultBytes: fields.resultBytes ?? null,
    argumentsDigest: fields.argumentsDigest ?? null,
    denial: fields.denial ?? null,
  };
}

function denialOf(reason: unknown): DenialKind {
  if (typeof reason !== 'string') return 'other';
  if (NOT_GRANTED.has(reason)) return 'not_granted';
  if (UNKNOWN_NAME.has(reason)) return 'unknown_name';
  return reason === 'argument_not_allowed' || reason === 'rate_limited' ? reason : 'other';
}

/** The params' size as sent: the log cut them when they were large, and recorded the whole's size then (audit/bound.ts). */
function paramsBytes(params: unknown, truncated: unknown): number | null {
  if (isRecord(truncated) && typeof truncated.bytes === 'number') return truncated.bytes;
  if (params === undefined || params === null) return null;
  return Buffer.byteLength(JSON.stringify(params));
}

/**
 * A digest of what an allowed request asked for, which breadth counts distinct values of:
 * a tools/call's arguments (per tool), a resources/read's URI and a prompts/get's name and
 * arguments (per server: neither names a tool, and a sweep of records by URI is a bulk
 * export all the same). Null for any other method: it fetches no record.
 */
function askedFor(method: string | null, data: Record<string, unknown>): string | null {
  const params = isRecord(data.params) ? data.params : null;
  switch (method) {
    case 'tools/call':
      return stringOr(data.argumentsDigest) ?? (params === null ? null : digest(params.arguments));
    case 'resources/read':
      return wholeDigest(data.paramsTruncated) ?? (params === null ? null : digest(params.uri));
    case 'prompts/get':
      return wholeDigest(data.paramsTruncated) ?? (params === null ? null : digest([params.name ?? null, params.arguments ?? null]));
    default:
      return null;
  }
}

/**
 * A digest of the name an `unknown_name` refusal refused, with its reason: probing counts
 * distinct ones, for the broker itself has innocent clients ask again and again for a name
 * it just forgot (a server's leg dropped when its grant ended or it failed: its task polled,
 * its resource read again, a completion asked on each keystroke). The digest of the whole
 * params when the log cut them; null when the params name nothing (each such refusal counts).
 */
function unknownNamed(data: Record<string, unknown>): string | null {
  const reason = String(data.reason);
  const name = wholeDigest(data.paramsTruncated) ?? (isRecord(data.params) ? nameIn(reason, data.params) : undefined);
  return name === undefined ? null : digest([reason, name]);
}

/**
 * Where a request refused for an unknown name holds that name (broker/core/client-requests.ts):
 * a task by its related-task metadata, which any request may carry and which is checked
 * first, and its own `taskId` (tasks/get, tasks/result, tasks/cancel) together.
 */
function nameIn(reason: string, params: Record<string, unknown>): unknown {
  switch (reason) {
    case 'unknown_prompt':
      return params.name;
    case 'unknown_resource':
      return params.uri;
    case 'unknown_reference':
      return params.ref;
    default: {
      // Both when they differ, not the first found: a request naming a task of its own as related and guessing
      // at `taskId` is one guess per id; one task named either way is one name.
      const related = relatedTaskOf(params);
      const own = params.taskId;
      return related === undefined || own === undefined || related === own ? (related ?? own) : [related, own];
    }
  }
}

/**
 * For params the log cut (a URI past 512 characters): a digest of the SHA-256 it recorded of
 * the whole, so URIs padded to look alike up to the cut still count apart. The log takes
 * `argumentsDigest` of a tools/call only (broker/request-audit.ts); the whole params here
 * include `_meta`, so a read with a progress token counts as its own value: an error toward counting.
 */
function wholeDigest(truncated: unknown): string | null {
  return isRecord(truncated) && typeof truncated.sha256 === 'string' ? digest(truncated.sha256) : null;
}

/**
 * A digest of a recorded value: of a call's arguments when it was recorded without
 * `argumentsDigest` (logged whole, or before the broker had the log take it from the
 * arguments as sent: broker/request-audit.ts), of a URI or a prompt. Recorded values are
 * redacted and cut: values under a credential key digest alike, params past 8 KiB not at all.
 * The same value in any key order gives the same digest (RFC 8785 canonical JSON).
 */
function digest(value: unknown): string | null {
  if (value === undefined) return null;
  return hash('sha256', canonicalJson(value), 'base64url').slice(0, DIGEST_CHARS);
}

function introducedClient(info: unknown): Observation['client'] {
  if (!isRecord(info) || typeof info.name !== 'string') return null;
  return { name: info.name, version: stringOr(info.version), oauthClientId: null };
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
