import { hash } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import { illFormedTextAt } from '../text/well-formed.js';
import { boundForAudit } from './bound.js';
import { canonicalJson } from './canonical-json.js';
import type { Redactor } from './redact.js';
import type { AuditEventInput } from './types.js';

/**
 * Largest event the log takes (its fields and serialised data, in UTF-8 bytes), checked
 * before `bounded` keys are cut (an `mcp.request` keeps at most 8 KiB of params): a
 * backstop, so one oversized event can never stall the batch it would ride in.
 */
export const MAX_EVENT_BYTES = 256 * 1024;

const OUTCOMES: ReadonlySet<unknown> = new Set(['SUCCESS', 'DENIED', 'ERROR']);
const TEXT_FIELDS = ['type', 'actor', 'server', 'tool', 'sessionId'] as const;
/** Paths named in an error are cut here: a path is made of the caller's keys. */
const MAX_PATH_CHARS = 200;
/**
 * ES2019 JSON.stringify writes a lone surrogate as a lowercase `\udXXX` escape (a paired
 * one stays raw), so serialised data without this escape holds no ill-formed text and the
 * exact walk only runs when it may find something: the append path is the relay's hot path.
 */
const SURROGATE_ESCAPE = /\\ud[89a-f][0-9a-f]{2}/;

/**
 * An event as the log will hash and store it, checked on its own before it joins a batch:
 * anything that would make hashing (RFC 8785 canonical JSON refuses lone surrogates, NaN,
 * cycles) or reading it back fail must fail this caller alone, never the events of other
 * callers chained with it. Ill-formed text is refused, not mended: the edges refuse it
 * first and audit a mended copy of what they refused. Messages name the field, never its text.
 */
export function admitEvent(input: AuditEventInput, redact: Redactor): { event: AuditEventInput; bytes: number } {
  if (typeof input.type !== 'string' || input.type === '') throw invalid('type', 'must be a non-empty string');
  if (!OUTCOMES.has(input.outcome)) throw invalid('outcome', 'must be SUCCESS, DENIED or ERROR');
  let bytes = 0;
  for (const field of TEXT_FIELDS) {
    const value = input[field];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') throw invalid(field, 'must be a string or null');
    if (!value.isWellFormed()) throw illFormed(field);
    bytes += Buffer.byteLength(value);
  }
  let json: string | undefined;
  try {
    // Through JSON once, here, so the hash covers exactly what a reader will get back
    // (NaN becomes null, undefined goes), and data JSON cannot hold (BigInt, a cycle) fails now.
    json = JSON.stringify(input.data ?? {});
  } catch (error) {
    throw invalid('data', `is not JSON: ${(error as Error).message}`);
  }
  if (json === undefined) throw invalid('data', 'must be a JSON object');
  const data: unknown = JSON.parse(json);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw invalid('data', 'must be a JSON object');
  // Then through the redaction policy, so no writer can forget it; then what came from
  // outside is cut to size, after redaction, so no cut can hide a secret from it.
  const redacted = redact(data) as Record<string, unknown>;
  const at = SURROGATE_ESCAPE.test(json) ? illFormedTextAt(redacted) : null;
  if (at !== null) throw illFormed(`data.${at}`);
  let cut = false;
  /** What the cut keys held before the cut: the digests that need them are taken from these. */
  const wholes = new Map<string, unknown>();
  for (const key of input.bounded ?? []) {
    if (!Object.hasOwn(redacted, key)) continue;
    const { value, truncated } = boundForAudit(redacted[key]);
    if (truncated) wholes.set(key, redacted[key]);
    redacted[key] = value;
    if (truncated) redacted[`${key}Truncated`] = truncated;
    cut ||= truncated !== undefined;
  }
  // Only where the cut took what a digest is of: else a reader digests the stored value alike (detection/observe.ts).
  for (const [name, [key, ...path]] of wholes.size === 0 || !input.digests ? [] : Object.entries(input.digests)) {
    const value = key !== undefined && wholes.has(key) ? valueAt(wholes.get(key), path) : undefined;
    if (value !== undefined) redacted[name] = hash('sha256', canonicalJson(value), 'base64url').slice(0, DIGEST_CHARS);
  }
  // The serialised input stands for the stored size (redaction moves it by a few bytes a
  // secret), unless a cut made it smaller: then it is measured again.
  bytes += Buffer.byteLength(cut ? JSON.stringify(redacted) : json);
  if (bytes > MAX_EVENT_BYTES) throw new InvalidInputError(`audit event is ${bytes} bytes, more than the ${MAX_EVENT_BYTES} the log accepts`);
  const { bounded: _bounded, digests: _digests, ...event } = input;
  return { event: { ...event, data: redacted }, bytes };
}

/** Base64url characters of a digest (`digests`): 96 bits, as detection/observe.ts takes them, so the values a window counts are told apart. */
const DIGEST_CHARS = 16;

/** The value at `path` inside `data` (own keys only), or undefined. */
function valueAt(data: unknown, path: readonly string[]): unknown {
  let value: unknown = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function invalid(path: string, problem: string): InvalidInputError {
  return new InvalidInputError(`audit event field ${path.slice(0, MAX_PATH_CHARS)} ${problem}`);
}

function illFormed(path: string): InvalidInputError {
  return invalid(path, 'holds ill-formed Unicode text (a lone UTF-16 surrogate), which the audit log refuses');
}
