import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { AuditEventInput, ChainedAuditEvent } from './types.js';

export const GENESIS_HASH = '0'.repeat(64);

type Content = Omit<ChainedAuditEvent, 'hash'>;

/**
 * Hash over the RFC 8785 canonical JSON of the event's content and its predecessor's
 * hash: editing, removing or reordering any event breaks every later link.
 */
export function hashEvent(content: Content): string {
  const canonical = canonicalJson({
    type: content.type,
    outcome: content.outcome,
    actor: content.actor,
    server: content.server,
    tool: content.tool,
    sessionId: content.sessionId,
    data: content.data,
    time: content.time,
    prevHash: content.prevHash,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

export function chainEvent(input: AuditEventInput, time: string, prevHash: string): ChainedAuditEvent {
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
  return { ...content, hash: hashEvent(content) };
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
