import type { Clock } from '../clock.js';
import { InvalidInputError, PortcullisError } from '../errors.js';
import { admitEvent } from './admit-event.js';
import { chainEvent } from './chain.js';
import type { ChainLink } from './chain.js';
import { CHECKPOINT_EVENT, checkpointData } from './checkpoints.js';
import type { CheckpointStatement } from './checkpoints.js';
import type { Redactor } from './redact.js';
import type { AuditEvent, AuditEventInput, AuditLogOptions } from './types.js';

/** What a backend must offer for the chained, batched append below. */
export interface AuditCommitter {
  /** Hash of the newest event in the log (GENESIS_HASH when empty). */
  headHash(): Promise<string>;
  /**
   * Appends the events, in order, only if the log's head is still `expectedHead`
   * (compare-and-set, so instances sharing a log never fork the chain). Returns the
   * cursors given to them, or null when another writer moved the head.
   */
  commit(links: ChainLink[], expectedHead: string): Promise<string[] | null>;
}

interface Pending {
  input: AuditEventInput;
  time: string;
  bytes: number;
  /** Fills in the data once the event's place in the chain is known (a checkpoint signs it). */
  complete?: (prevHash: string, time: string) => Record<string, unknown>;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 512;
/** A batch stops growing here (it always takes one event), so a store write stays bounded. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_CONFLICT_RETRIES = 20;
const CHECKPOINT_BYTES = 512;

/**
 * Group commit: appends that arrive while a write is in flight ride together in the next
 * one, so the audit log costs one store round trip per batch, not per event, while each
 * caller still waits for its own event to be durable. Each event is admitted on its own
 * before it joins a batch (admit-event.ts): a bad one fails its caller, never the batch.
 *
 * With checkpoints configured, it also seals the chain: `checkpoint()` (called on a
 * schedule and at shutdown) appends one when this instance appended since its last or has
 * been idle for half an interval, and the first append after a quiet spell longer than the
 * interval is preceded by one, so a verifier may expect checkpoints around events at most
 * about two intervals apart, and a running broker's log to end near one.
 */
export class GroupCommitAppender {
  private queue: Pending[] = [];
  private flushing = false;
  private head: string | undefined;
  private sealedAt = Number.NEGATIVE_INFINITY;
  private appendedSinceSeal = false;

  constructor(
    private readonly committer: AuditCommitter,
    private readonly clock: Clock,
    private readonly redact: Redactor,
    private readonly checkpoints?: AuditLogOptions['checkpoints'],
  ) {}

  append(input: AuditEventInput): Promise<AuditEvent> {
    let admitted: { event: AuditEventInput; bytes: number };
    try {
      if (input.type === CHECKPOINT_EVENT) throw new InvalidInputError(`audit event type ${CHECKPOINT_EVENT} is written by the log itself`);
      admitted = admitEvent(input, this.redact);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.checkpoints && this.clock.now() - this.sealedAt >= this.checkpoints.intervalMs) {
      // Its failure is this batch's failure, which the event below reports to its caller.
      this.sealChain().catch(() => {});
    }
    this.appendedSinceSeal = true;
    return this.enqueue(admitted.event, admitted.bytes);
  }

  /**
   * A checkpoint when one is due: events appended since the last, or half an interval without
   * one (sealing while idle is what lets a verifier see a log cut back to an old checkpoint),
   * or `final` (the broker stops).
   */
  checkpoint(options: { final?: boolean } = {}): Promise<AuditEvent | null> {
    if (!this.checkpoints) return Promise.resolve(null);
    const due = options.final || this.appendedSinceSeal || this.clock.now() - this.sealedAt >= this.checkpoints.intervalMs / 2;
    return due ? this.sealChain(options.final === true) : Promise.resolve(null);
  }

  private sealChain(final = false): Promise<AuditEvent> {
    const { signer, intervalMs } = this.checkpoints!;
    const statement: CheckpointStatement = { every: Math.ceil(intervalMs / 1000), ...(final ? { final } : {}) };
    const previous = { sealedAt: this.sealedAt, appended: this.appendedSinceSeal };
    this.sealedAt = this.clock.now();
    this.appendedSinceSeal = false;
    const input: AuditEventInput = { type: CHECKPOINT_EVENT, outcome: 'SUCCESS', actor: null };
    return this.enqueue(input, CHECKPOINT_BYTES, (prevHash, time) => checkpointData(signer, prevHash, time, statement)).catch((error: unknown) => {
      // Not sealed after all: the next append or tick tries again.
      this.sealedAt = previous.sealedAt;
      this.appendedSinceSeal ||= previous.appended;
      throw error;
    });
  }

  private enqueue(input: AuditEventInput, bytes: number, complete?: Pending['complete']): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, time: new Date(this.clock.now()).toISOString(), bytes, complete, resolve, reject });
      if (this.flushing) return;
      // The first write waits for the end of this turn of the event loop: the other events of
      // the turn (frames read from other sockets, calls one commit released) ride in it too,
      // instead of waiting for its round trip. A store write is dearer than the wait.
      this.flushing = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.nextBatch();
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

  private nextBatch(): Pending[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < MAX_BATCH && (count === 0 || bytes + this.queue[count]!.bytes <= MAX_BATCH_BYTES)) bytes += this.queue[count++]!.bytes;
    return this.queue.splice(0, count);
  }

  private async commitBatch(batch: Pending[]): Promise<AuditEvent[]> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      this.head ??= await this.committer.headHash();
      const expectedHead = this.head;
      let prev = expectedHead;
      const links = batch.map((p) => {
        const link = chainEvent(p.complete ? { ...p.input, data: p.complete(prev, p.time) } : p.input, p.time, prev);
        prev = link.event.hash;
        return link;
      });
      const ids = await this.committer.commit(links, expectedHead);
      if (ids) {
        this.head = prev;
        return links.map(({ event }, i) => ({ ...event, id: ids[i]! }));
      }
      this.head = undefined;
    }
    throw new PortcullisError('AUDIT_CONFLICT', `audit append lost ${MAX_CONFLICT_RETRIES} compare-and-set races in a row`);
  }
}
