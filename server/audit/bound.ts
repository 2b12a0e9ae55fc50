import { createHash } from 'node:crypto';

/**
 * Bounds what a client or upstream sent before it is audited: a 1,000,000-character
 * argument must not become 50 MB of log. Runs on the redacted value (admit-event.ts), so
 * cutting a key never hides it from the redaction policy and the hash of the whole never
 * covers a secret. Long strings are cut (on a code-point boundary: a split surrogate pair
 * would be ill-formed text), long arrays and objects keep their first entries, and
 * whatever was cut is marked, with the size and SHA-256 of the whole, so an investigator
 * can still match the event to the original.
 */
const MAX_STRING = 512;
const MAX_ENTRIES = 64;
const MAX_DEPTH = 8;
/** Serialized size past which only the marker is kept. */
const MAX_BYTES = 8192;
/** Longest name (tool, prompt, key) kept whole. */
const MAX_NAME = 128;

export interface Bounded {
  value: unknown;
  /** Present when anything was cut: the whole value's serialized size and SHA-256. */
  truncated?: { bytes: number; sha256: string };
}

export function boundForAudit(value: unknown): Bounded {
  // Most values need no cut: checked without copying (this runs on every relayed call).
  if (withinBounds(value, 0) && JSON.stringify(value).length <= MAX_BYTES) return { value };
  let cut = false;
  const walk = (item: unknown, depth: number): unknown => {
    if (typeof item === 'string') {
      if (item.length <= MAX_STRING) return item;
      cut = true;
      return `${cutText(item, MAX_STRING)}…[${item.length} chars]`;
    }
    if (item === null || typeof item !== 'object') return item;
    if (depth >= MAX_DEPTH) {
      cut = true;
      return '[…]';
    }
    if (Array.isArray(item)) {
      if (item.length > MAX_ENTRIES) cut = true;
      const kept = item.slice(0, MAX_ENTRIES).map((v) => walk(v, depth + 1));
      return item.length > MAX_ENTRIES ? [...kept, `[… ${item.length - MAX_ENTRIES} more]`] : kept;
    }
    const entries = Object.entries(item);
    if (entries.length > MAX_ENTRIES) cut = true;
    const kept = entries.slice(0, MAX_ENTRIES).map(([k, v]) => [boundName(k), walk(v, depth + 1)] as const);
    if (kept.some(([k], i) => k !== entries[i]![0])) cut = true;
    return Object.fromEntries(entries.length > MAX_ENTRIES ? [...kept, ['…', `${entries.length - MAX_ENTRIES} more keys`]] : kept);
  };
  const bounded = walk(value, 0);
  if (!cut && JSON.stringify(bounded).length <= MAX_BYTES) return { value: bounded };
  const whole = JSON.stringify(value) ?? '';
  const truncated = { bytes: Buffer.byteLength(whole), sha256: createHash('sha256').update(whole).digest('hex') };
  return { value: JSON.stringify(bounded).length <= MAX_BYTES ? bounded : '[too large]', truncated };
}

/** Whether boundForAudit's walk would keep `item` as it is: no string, list or name too long, nothing too deep. */
function withinBounds(item: unknown, depth: number): boolean {
  if (typeof item === 'string') return item.length <= MAX_STRING;
  if (item === null || typeof item !== 'object') return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(item)) return item.length <= MAX_ENTRIES && item.every((v) => withinBounds(v, depth + 1));
  let entries = 0;
  for (const key in item) {
    if (++entries > MAX_ENTRIES || key.length > MAX_NAME || !withinBounds((item as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** A name (tool, prompt, key) as it may be audited: at most 128 characters, marked when cut. */
export function boundName(name: string): string {
  return name.length <= MAX_NAME ? name : `${cutText(name, MAX_NAME)}…`;
}

/** The first `max` UTF-16 units, one fewer if that would split a surrogate pair. */
function cutText(text: string, max: number): string {
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
