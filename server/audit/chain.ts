import { hash as oneShotHash } from 'node:crypto';
import { memberWriter } from './canonical-json.js';
import type { AuditEventInput, ChainedAuditEvent } from './types.js';

export const GENESIS_HASH = '0'.repeat(64);

type Content = Omit<ChainedAuditEvent, 'hash'>;

/**
 * An event in its place in the chain, with the JSON a store keeps of it: the canonical form
 * the hash was computed over, the hash added as its last member. One serialisation per
 * event serves both (issue 22); any JSON parser reads it back as the event.
 */
export interface ChainLink {
  event: ChainedAuditEvent;
  json: string;
}

/**
 * Hash over the RFC 8785 canonical JSON of the event's content and its predecessor's
 * hash: editing, removing or reordering any event breaks every later link.
 */
export function hashEvent(content: Content): string {
  return sha256(canonicalContent(content));
}

export function chainEvent(input: AuditEventInput, time: string, prevHash: string): ChainLink {
  const content: Content = {
    type: input.type,
    outcome: input.outcome,
    actor: input.actor,
    server: input.server ?? null,
    tool: input.tool ?? null,
    sessionId: input.sessionId ?? null,
    data: input.data ?? {},
    time,
    prevHash,
  };
  const canonical = canonicalContent(content);
  const hash = sha256(canonical);
  return { event: { ...content, hash }, json: `${canonical.slice(0, -1)},"hash":"${hash}"}` };
}

/** The hashed fields, in RFC 8785 order: whatever else an event object carries (its id, its hash) is not hashed. */
const canonicalContent: (content: Content) => string = memberWriter(['actor', 'data', 'outcome', 'prevHash', 'server', 'sessionId', 'time', 'tool', 'type']);

/** One-shot (crypto.hash): no Hash object per event, about a third cheaper for an event's size. */
function sha256(text: string): string {
  return oneShotHash('sha256', text, 'hex');
}

export interface ChainBreak {
  index: number;
  reason: 'hash_mismatch' | 'prev_hash_mismatch';
}

/** The first broken link in a run of events, or null when the run is intact. */
export function findChainBreak(events: readonly ChainedAuditEvent[], expectedFirstPrev?: string): ChainBreak | null {
  let prev = expectedFirstPrev;
  for (const [index, event] of events.entries()) {
    if (prev !== undefined && event.prevHash !== prev) return { index, reason: 'prev_hash_mismatch' };
    if (hashEvent(event) !== event.hash) return { index, reason: 'hash_mismatch' };
    prev = event.hash;
  }
  return null;
}
