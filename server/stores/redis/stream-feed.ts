import { StoreUnavailableError } from '../../errors.js';
import { guarded, waitReady } from './connection.js';
import type { RedisClient } from './connection.js';

type StreamEntry = [id: string, fields: string[]];

interface Waiter {
  /** The last entry id this tail has yielded. */
  after: string;
  /** The entries that follow `after`, or null: catch up by reading the stream yourself. */
  resolve: (entries: StreamEntry[] | null) => void;
  reject: (error: unknown) => void;
}

const BATCH = 500;

/**
 * One blocking reader per log, shared by every live tail on this instance: 300 tails cost
 * one Redis connection, not 300 (a blocking XREAD holds its connection). The feed reads
 * the stream after the newest entry it has seen and hands each batch to the tails waiting
 * exactly there; a tail that fell behind is told to catch up with a plain read, so the
 * feed buffers nothing and a slow tail delays nobody.
 */
export class StreamFeed {
  private readonly waiters = new Set<Waiter>();
  /** The newest entry id the feed has seen; null while it is not running. */
  private position: string | null = null;
  /** That entry's hash, once the feed has read it (null at the position it started from). */
  private positionHash: string | null = null;
  private closed = false;

  constructor(
    private readonly reader: RedisClient,
    private readonly streamKey: string,
    private readonly blockMs: number,
  ) {}

  /** Resolves once the feed's connection is up (bounded by the timeout and the signal). */
  ready(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return waitReady(this.reader, timeoutMs, signal);
  }

  /** Resolves with the entries after `after` as soon as there are any (null: read them yourself). */
  next(after: string, signal: AbortSignal): Promise<StreamEntry[] | null> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('audit tail (store closed)'));
    if (this.position !== null && compareIds(after, this.position) < 0) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        after,
        resolve: (entries) => {
          signal.removeEventListener('abort', onAbort);
          resolve(entries);
        },
        reject,
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      if (this.position === null) {
        this.position = after;
        void this.run();
      }
    });
  }

  close(): void {
    this.closed = true;
    this.reader.disconnect();
    this.fail(new StoreUnavailableError('audit tail (store closed)'));
  }

  private async run(): Promise<void> {
    try {
      while (this.waiters.size > 0 && !this.closed) {
        const reply = await guarded('audit tail', () => this.reader.xread('COUNT', BATCH, 'BLOCK', this.blockMs, 'STREAMS', this.streamKey, this.position!));
        const entries = (reply?.[0]?.[1] ?? []) as StreamEntry[];
        if (entries.length > 0) this.deliver(entries);
      }
    } catch (error) {
      this.fail(this.closed ? new StoreUnavailableError('audit tail (store closed)') : error);
    } finally {
      this.position = null;
      this.positionHash = null;
    }
  }

  /**
   * A tail at or past the feed's position gets what follows its own cursor. Only when the
   * batch provably follows that position (its first event chains to the entry the feed
   * last read): retention may have removed entries in between, and a tail must then read
   * for itself and be told it was overtaken, never skip them unaware.
   */
  private deliver(entries: StreamEntry[]): void {
    const previous = this.position!;
    const contiguous = this.positionHash !== null && prevHashOf(entries[0]!) === this.positionHash;
    this.position = entries.at(-1)![0];
    this.positionHash = fieldOf(entries.at(-1)!, 'h');
    for (const waiter of [...this.waiters]) {
      if (!contiguous || compareIds(waiter.after, previous) < 0) {
        this.settle(waiter, null);
        continue;
      }
      const fresh = entries.filter(([id]) => compareIds(id, waiter.after) > 0);
      if (fresh.length > 0) this.settle(waiter, fresh);
    }
  }

  private settle(waiter: Waiter, entries: StreamEntry[] | null): void {
    this.waiters.delete(waiter);
    waiter.resolve(entries);
  }

  private fail(error: unknown): void {
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }
}

function fieldOf([, fields]: StreamEntry, name: string): string | null {
  const at = fields.indexOf(name);
  return at >= 0 ? (fields[at + 1] ?? null) : null;
}

function prevHashOf(entry: StreamEntry): string | null {
  const json = fieldOf(entry, 'e');
  return json === null ? null : ((JSON.parse(json) as { prevHash?: string }).prevHash ?? null);
}

export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  return aMs === bMs ? Number(aSeq - bSeq) : aMs > bMs ? 1 : -1;
}
