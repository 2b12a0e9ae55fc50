import type { Clock } from '../clock.js';
import { InvalidInputError, PortcullisError } from '../errors.js';
import { chainEvent } from './chain.js';
import type { Redactor } from './redact.js';
import type { AuditEvent, AuditEventInput, ChainedAuditEvent } from './types.js';

/** What a backend must offer for the chained, batched append below. */
export interface AuditCommitter {
  /** Hash of the newest event in the log (GENESIS_HASH when empty). */
  headHash(): Promise<string>;
  /**
   * Appends the events, in order, only if the log's head is still `expectedHead`
   * (compare-and-set, so instances sharing a log never fork the chain). Returns the
   * cursors given to them, or null when another writer moved the head.
   */
  commit(events: ChainedAuditEvent[], expectedHead: string): Promise<string[] | null>;
}

interface Pending {
  input: AuditEventInput;
  time: string;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 512;
const MAX_CONFLICT_RETRIES = 20;

/**
 * Group commit: appends that arrive while a write is in flight ride together in the next
 * one, so the audit log costs one store round trip per batch, not per event, while each
 * caller still waits for its own event to be durable.
 */
export class GroupCommitAppender {
  private queue: Pending[] = [];
  private flushing = false;
  private head: string | undefined;

  constructor(
    private readonly committer: AuditCommitter,
    private readonly clock: Clock,
    private readonly redact: Redactor,
  ) {}

  append(input: AuditEventInput): Promise<AuditEvent> {
    let normalized: AuditEventInput;
    try {
      // Through JSON once, here, so the hash covers exactly what a reader will get back,
      // and data that cannot be stored fails its own caller, not the batch it would join;
      // then through the redaction policy, so no writer can forget it.
      normalized = { ...input, data: this.redact(JSON.parse(JSON.stringify(input.data ?? {}))) as Record<string, unknown> };
    } catch (error) {
      return Promise.reject(new InvalidInputError(`audit event data is not JSON: ${(error as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ input: normalized, time: new Date(this.clock.now()).toISOString(), resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const events = await this.commitBatch(batch);
          batch.forEach((p, i) => p.resolve(events[i]!));
        } catch (error) {
          // The head is unknown after a failure (the write may have landed): re-read it.
          this.head = undefined;
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commitBatch(batch: Pending[]): Promise<AuditEvent[]> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      this.head ??= await this.committer.headHash();
      const expectedHead = this.head;
      let prev = expectedHead;
      const chained = batch.map((p) => {
        const event = chainEvent(p.input, p.time, prev);
        prev = event.hash;
        return event;
      });
      const ids = await this.committer.commit(chained, expectedHead);
      if (ids) {
        this.head = prev;
        return chained.map((event, i) => ({ ...event, id: ids[i]! }));
      }
      this.head = undefined;
    }
    throw new PortcullisError('AUDIT_CONFLICT', `audit append lost ${MAX_CONFLICT_RETRIES} compare-and-set races in a row`);
  }
}
