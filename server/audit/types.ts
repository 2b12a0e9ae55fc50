import type { AuditSigner, Seal } from './seal.js';
import type { TailOptions } from './tail-pace.js';

export type AuditOutcome = 'SUCCESS' | 'DENIED' | 'ERROR';

/** What a caller records; the log adds time, cursor and hash chain. */
export interface AuditEventInput {
  type: string;
  outcome: AuditOutcome;
  /** The acting user's email; null for the system itself. */
  actor: string | null;
  server?: string | null;
  tool?: string | null;
  sessionId?: string | null;
  data?: Record<string, unknown>;
  /**
   * Keys of `data` that hold what a client or upstream sent (JSON-RPC params, client
   * info): the log cuts them to size after redaction (audit/bound.ts), adding
   * `<key>Truncated: { bytes, sha256 }` of the redacted whole when it cut anything.
   */
  bounded?: readonly string[];
  /**
   * Digests the log adds to `data`, by name, each of the value at a path of `data` as
   * redacted, when a cut (`bounded`) took it: 16 base64url characters of SHA-256 over its
   * canonical JSON, as a reader would take of the stored value had it not been cut. Taken
   * after redaction, no digest carries a bit of a secret; taken before the cut, padding
   * cannot make two values digest alike (or not at all).
   */
  digests?: Readonly<Record<string, readonly string[]>>;
}

/** The hashed content of an event: everything but its cursor. */
export interface ChainedAuditEvent {
  type: string;
  outcome: AuditOutcome;
  actor: string | null;
  server: string | null;
  tool: string | null;
  sessionId: string | null;
  data: Record<string, unknown>;
  /** ISO-8601 time the event was recorded. */
  time: string;
  /** Hash of the previous event (GENESIS_HASH for the first one). */
  prevHash: string;
  /** SHA-256 over the canonical JSON of every other field here. */
  hash: string;
}

export interface AuditEvent extends ChainedAuditEvent {
  /** Stream cursor: strictly increasing, opaque to clients. */
  id: string;
}

/** Where a log trimmed by retention starts. */
export interface ChainAnchor {
  /** The hash the oldest kept event chains to. */
  prevHash: string;
  /** Cursor of the last event retention removed. */
  lastTrimmedId: string;
  /** The anchor's signature, when checkpoints were configured on the instance that trimmed. */
  seal?: Seal;
}

/** What a log must know of the configuration to keep its promises. */
export interface AuditLogOptions {
  /**
   * Whether `audit.retention` is configured. Without it the log never starts anywhere but
   * at the genesis hash: an anchor found in the store is a forged start, and is refused.
   */
  retention: boolean;
  /** Seals checkpoints and anchors; absent, none are written. */
  checkpoints?: { signer: AuditSigner; intervalMs: number };
}

/** What one retention pass removes (AuditLog.trim). */
export interface TrimPolicy {
  before?: number;
  keep?: number;
  holdFrom?: readonly string[];
}

/** Where a tail starts: after a cursor, from the first event, or with the next new one. */
export type AuditPosition = { after: string } | 'start' | 'end';

/** What a verifier reads of a log (server/audit/verify.ts verifyLog). */
export type StoredAuditLog = Pick<AuditLog, 'read' | 'anchor' | 'headHash'>;

export interface AuditLog {
  /**
   * Appends durably and resolves only then: a caller acts after this resolves, never
   * before (fail closed). Rejects with StoreUnavailableError when the log cannot be written.
   */
  append(input: AuditEventInput): Promise<AuditEvent>;
  /** Hash of the newest event written (GENESIS_HASH when none was). */
  headHash(): Promise<string>;
  /**
   * Where retention made the log start (the hash the oldest retained event chains to, so
   * what remains verifies), or null when it never trimmed: the chain starts at
   * GENESIS_HASH then. Throws
   * AuditLogCorruptError when the store holds an anchor while retention is not configured.
   */
  anchor(): Promise<ChainAnchor | null>;
  /**
   * Appends a signed `audit.checkpoint` when one is due (events appended since this
   * instance's last one, half an interval without one, or `final`: the broker stops); null
   * when none is due or checkpoints are not configured.
   */
  checkpoint(options?: { final?: boolean }): Promise<AuditEvent | null>;
  /**
   * Retention: removes events older than `before` (epoch ms) and/or all but the newest
   * `keep`, recording the new chain start in the same step. Returns how many went.
   * `holdFrom` names events (ids) that `keep` must not remove, nor any after them: what
   * export sinks have yet to send. Cursors older than the retained log are refused from then
   * on. Refused when retention is not configured (see AuditLogOptions).
   */
  trim(policy: TrimPolicy): Promise<number>;
  /** Up to `limit` events after the cursor (from the start without one), in log order. */
  read(options: { after?: string; limit: number }): Promise<AuditEvent[]>;
  /**
   * Up to `limit` events before the cursor (from the newest without one), newest first:
   * the log read back in time, page after page, with the last event of a page as the next
   * `before`. The same cursors as `read`, refused alike when this log did not issue them.
   */
  readBackward(options: { before?: string; limit: number }): Promise<AuditEvent[]>;
  /**
   * The log as stored, for a verifier to walk: the embedded log reads its file afresh (so
   * an edit on disk shows, as `portcullis audit verify` would see it); the Redis log is
   * read from its store already.
   */
  stored(): Promise<StoredAuditLog>;
  /**
   * Every event after the position, in order, then live ones as they are appended, until
   * the signal aborts: no gap and no duplicate, because it reads the log itself.
   */
  tail(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncIterable<AuditEvent>;
}
