import { X509Certificate } from 'node:crypto';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { OneTimeValueStore } from '../stores/types.js';

/** How long a recorded key set is kept without being seen again (each start and refresh renews it). */
const RECORD_TTL_MS = 400 * 86_400_000;

export function fingerprintOf(certificate: string): string {
  return new X509Certificate(certificate).fingerprint256;
}

interface KeySet {
  keys: string[];
  /** The SP's signing key (the order of its keys matters: the first signs); null for an IdP. */
  signing: string | null;
}

/**
 * Compares a set of key fingerprints with the one last recorded under `record` (in the
 * shared store, so a restart or another instance compares with the same) and records the
 * new set. Returns what changed, or null when nothing did or nothing was recorded before
 * (a first start has nothing to compare with: it records, and audits nothing).
 */
async function compareAndRecord(store: OneTimeValueStore, clock: Clock, record: string, next: KeySet): Promise<{ added: string[]; removed: string[] } | null> {
  const keys = [...new Set(next.keys)].sort();
  const stored = await store.get(record);
  await store.put(record, JSON.stringify({ keys, signing: next.signing }), clock.now() + RECORD_TTL_MS);
  if (stored === null) return null;
  const previous = JSON.parse(stored) as KeySet;
  const added = keys.filter((f) => !previous.keys.includes(f));
  const removed = previous.keys.filter((f) => !keys.includes(f));
  return added.length + removed.length === 0 && previous.signing === next.signing ? null : { added, removed };
}

/**
 * Audits a change of trusted keys (`auth.idp.keys_rotated`, `auth.sp.keys_rotated`): who
 * may sign for an IdP, or which keys the SP publishes, is as much a security decision as
 * a grant. Two instances noticing the same change at the same moment may both record it.
 */
export class KeyRotationRecorder {
  constructor(private readonly deps: { store: OneTimeValueStore; audit: AuditLog; clock: Clock }) {}

  async idpKeys(idp: string, certificates: readonly string[], source: 'metadata' | 'config'): Promise<void> {
    const change = await compareAndRecord(this.deps.store, this.deps.clock, `idp:${idp}`, { keys: certificates.map(fingerprintOf), signing: null });
    if (change) await this.deps.audit.append({ type: 'auth.idp.keys_rotated', outcome: 'SUCCESS', actor: null, data: { idp, ...change, source } });
  }

  /** `fingerprints` in configured order: the first signs. */
  async spKeys(fingerprints: readonly string[]): Promise<void> {
    const signing = fingerprints[0] ?? null;
    const change = await compareAndRecord(this.deps.store, this.deps.clock, 'sp', { keys: [...fingerprints], signing });
    if (change) await this.deps.audit.append({ type: 'auth.sp.keys_rotated', outcome: 'SUCCESS', actor: null, data: { ...change, signing } });
  }
}
