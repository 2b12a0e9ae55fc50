import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../clock.js';
import { AuditLogCorruptError, InvalidCursorError, StoreUnavailableError, TrimmedCursorError } from '../../errors.js';
import { abortableTail } from '../../audit/abortable-tail.js';
import { TailPace } from '../../audit/tail-pace.js';
import type { TailOptions } from '../../audit/tail-pace.js';
import { findChainBreak, GENESIS_HASH } from '../../audit/chain.js';
import type { ChainLink } from '../../audit/chain.js';
import { anchorSeal } from '../../audit/checkpoints.js';
import { auditEventSchema } from '../../audit/event-schema.js';
import type { Redactor } from '../../audit/redact.js';
import { sealSchema } from '../../audit/seal.js';
import { prepareDataDir } from './data-dir.js';
import { lockDataDir } from './data-dir-lock.js';
import { appendOrUndo, openOwnerOnly, reopenForAppend, replaceFile, syncDirectory, truncateFile } from './durable-file.js';
import { GroupCommitAppender } from '../../audit/group-commit.js';
import { retentionNotConfigured } from '../../audit/retention.js';
import type { AuditCommitter } from '../../audit/group-commit.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditLogOptions, AuditPosition, ChainAnchor, StoredAuditLog, TrimPolicy } from '../../audit/types.js';

export const AUDIT_FILE_NAME = 'audit.jsonl';

/**
 * The single-instance audit log: one JSON line per event in `dataDir/audit.jsonl`,
 * fdatasync'd before an append resolves, so a crash or restart loses nothing that was
 * acknowledged. Cursors are event numbers (1, 2, ...). After retention trimmed the log,
 * its first line records where the chain starts.
 */
export class FileAuditLog implements AuditLog, AuditCommitter {
  private readonly events: AuditEvent[];
  /** Appends and trims take turns: a trim swaps the file under the handle. */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly appender: GroupCommitAppender;
  private waiters = new Set<() => void>();
  private closed = false;
  /** Aborted by close(): ends the pauses of paced tails (they are not waiting on anything close() wakes). */
  private readonly closing = new AbortController();
  /** Set when a failed write could not be undone: the log refuses every later append. */
  private broken: Error | undefined;

  private constructor(
    private file: FileHandle,
    private readonly path: string,
    events: AuditEvent[],
    private start: LogStart,
    private readonly clock: Clock,
    redact: Redactor,
    private readonly options: AuditLogOptions,
    private readonly unlock: () => void,
  ) {
    this.events = events;
    this.appender = new GroupCommitAppender(this, clock, redact, options.checkpoints);
  }

  static async open(dataDir: string, clock: Clock, redact: Redactor, options: AuditLogOptions): Promise<FileAuditLog> {
    prepareDataDir(dataDir);
    const unlock = lockDataDir(dataDir);
    try {
      const path = join(dataDir, AUDIT_FILE_NAME);
      const { events, start } = loadEvents(path, options);
      const created = !existsSync(path);
      const file = await openOwnerOnly(path);
      // A new log's name is durable only once its directory is: else a crash could lose its first events whole.
      if (created) syncDirectory(path);
      return new FileAuditLog(file, path, events, start, clock, redact, options, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    return this.appender.append(input);
  }

  checkpoint(options?: { final?: boolean }): Promise<AuditEvent | null> {
    return this.appender.checkpoint(options);
  }

  async anchor(): Promise<ChainAnchor | null> {
    return anchorOf(this.start);
  }

  commit(links: ChainLink[], expectedHead: string): Promise<string[] | null> {
    return this.inTurn(() => this.write(links, expectedHead));
  }

  /** Keeps at least the newest event, so the chain head stays in the file. */
  trim(policy: TrimPolicy): Promise<number> {
    if (!this.options.retention) return Promise.reject(retentionNotConfigured());
    return this.inTurn(async () => {
      const byAge = policy.before === undefined ? 0 : this.events.findIndex((e) => Date.parse(e.time) >= policy.before!);
      const first = this.events.length === 0 ? 0 : Number(this.events[0]!.id);
      // Cursors are event numbers: the index of an id is its distance from the first.
      const held = Math.min(this.events.length, ...(policy.holdFrom ?? []).map((id) => Math.max(0, Number(id) - first)));
      const byCount = policy.keep === undefined ? 0 : Math.min(held, this.events.length - policy.keep);
      const remove = Math.min(this.events.length - 1, Math.max(byAge < 0 ? this.events.length : byAge, byCount));
      if (remove <= 0) return 0;
      const kept = this.events.slice(remove);
      const trimmed = { prevHash: kept[0]!.prevHash, lastTrimmedId: Number(this.events[remove - 1]!.id) };
      const start: LogStart = { ...trimmed, ...anchorSeal(this.options.checkpoints, trimmed, this.clock.now()) };
      // Anchor and events in one file, swapped in by one rename: a crash leaves either log whole.
      const failed = await replaceFile(this.path, [JSON.stringify({ anchor: start }), ...kept.map((e) => JSON.stringify(e))].join('\n') + '\n').then(
        () => null,
        (error: unknown) => ({ error }),
      );
      // Also when the rename went through and only the directory sync failed: a handle on the replaced file would write where no one reads.
      await this.reopen();
      if (failed) throw failed.error;
      this.events.splice(0, remove);
      this.start = start;
      return remove;
    });
  }

  /** The file at the path, opened anew; when that fails appends fail from then on (durable-file.ts). */
  private async reopen(): Promise<void> {
    const file = await reopenForAppend(this.path, this.file, (error) => (this.broken = error));
    if (!file) throw this.broken;
    this.file = file;
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work, work);
    this.turn = run.catch(() => {});
    return run;
  }

  private async write(links: ChainLink[], expectedHead: string): Promise<string[] | null> {
    if (this.closed || this.broken) throw new StoreUnavailableError('audit append (log closed)', this.broken);
    if ((await this.headHash()) !== expectedHead) return null;
    const next = this.start.lastTrimmedId + this.events.length;
    const events = links.map(({ event }, i) => ({ id: String(next + i + 1), ...event }));
    try {
      // In the members' order the file always had, not the canonical JSON: people and tools read it (and this store is not the relay's hot path).
      await appendOrUndo(this.file, events.map((e) => `${JSON.stringify(e)}\n`).join(''), (error) => (this.broken = error));
    } catch (error) {
      throw new StoreUnavailableError('audit append', error);
    }
    this.events.push(...events);
    this.wake();
    return events.map((e) => e.id);
  }

  async read({ after, limit }: { after?: string; limit: number }): Promise<AuditEvent[]> {
    const from = after === undefined ? 0 : this.indexAfter(after);
    return this.events.slice(from, from + limit);
  }

  async readBackward({ before, limit }: { before?: string; limit: number }): Promise<AuditEvent[]> {
    // indexAfter(cursor) - 1 is the cursor's own index: the events before it end there.
    const end = before === undefined ? this.events.length : Math.max(0, this.indexAfter(before) - 1);
    return this.events.slice(Math.max(0, end - limit), end).reverse();
  }

  async stored(): Promise<StoredAuditLog> {
    return auditFileSnapshot(this.path, this.options);
  }

  async headHash(): Promise<string> {
    return this.events.at(-1)?.hash ?? this.start.prevHash;
  }

  tail(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncIterable<AuditEvent> {
    return abortableTail(signal, (inner) => this.follow(position, inner, options));
  }

  /** Throws StoreUnavailableError once the log can no longer be written. */
  ping(): void {
    if (this.closed || this.broken) throw new StoreUnavailableError('audit log (closed or broken)', this.broken);
  }

  private async *follow(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncGenerator<AuditEvent> {
    // Followed by event number, not array index: retention may shift the array meanwhile.
    let next = this.start.lastTrimmedId + (position === 'start' ? 0 : position === 'end' ? this.events.length : this.indexAfter(position.after)) + 1;
    const pace = new TailPace(options, [signal, this.closing.signal]);
    // Paced, a wake-up delivers what the log held then, as the Redis log's one read would.
    let until = Number.POSITIVE_INFINITY;
    while (!signal.aborted) {
      if (this.closed) throw new StoreUnavailableError('audit tail (log closed)');
      const index = next - this.start.lastTrimmedId - 1;
      if (index < 0) throw new TrimmedCursorError(String(next - 1), 'the reader fell behind the retained audit log');
      if (index < this.events.length && next <= until) {
        yield this.events[index]!;
        next++;
        continue;
      }
      const pause = pace.pause();
      if (pause) await pause;
      if (signal.aborted) break;
      // Closed while it slept: nothing will append again, and close() woke only the waiting tails.
      if (this.closed) throw new StoreUnavailableError('audit tail (log closed)');
      if (next - this.start.lastTrimmedId - 1 >= this.events.length) await this.nextAppend(signal);
      pace.woken();
      if (pace.paced) until = this.start.lastTrimmedId + this.events.length;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    this.wake();
    await this.file.close();
    this.unlock();
  }

  private indexAfter(cursor: string): number {
    // Only cursors this log issued: a cursor past the end would silently skip what comes next.
    if (!/^(0|[1-9]\d{0,15})$/.test(cursor) || Number(cursor) > this.start.lastTrimmedId + this.events.length) throw new InvalidCursorError(cursor);
    if (Number(cursor) < this.start.lastTrimmedId) throw new TrimmedCursorError(cursor, 'older than the retained audit log');
    return Number(cursor) - this.start.lastTrimmedId;
  }

  private nextAppend(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }
}

/**
 * Reads the log back. A last line without its newline is an append that crashed before
 * it was acknowledged: it is cut off. Anything else (an unreadable line, a wrong cursor,
 * a broken hash link) is corruption or tampering and stops the start: chaining new events
 * onto it would hide it.
 */
function loadEvents(path: string, options: Pick<AuditLogOptions, 'retention'>): { events: AuditEvent[]; start: LogStart } {
  const { events, start, completeBytes, totalBytes } = readAuditFile(path, options);
  if (completeBytes < totalBytes) truncateFile(path, completeBytes);
  const broken = findChainBreak(events, start.prevHash);
  if (broken) throw new AuditLogCorruptError(`${path} event ${events[broken.index]!.id}: ${broken.reason.replaceAll('_', ' ')}`);
  return { events, start };
}

/** Where the retained log starts: the hash its first event chains to, and how many events retention removed. */
export interface LogStart {
  prevHash: string;
  lastTrimmedId: number;
  seal?: ChainAnchor['seal'];
}

const anchorSchema = z.strictObject({
  anchor: z.strictObject({ prevHash: z.string().regex(/^[0-9a-f]{64}$/), lastTrimmedId: z.number().int().min(1), seal: sealSchema.optional() }),
});

/** The start as the AuditLog interface names it: null while retention never trimmed. */
export function anchorOf(start: LogStart): ChainAnchor | null {
  return start.lastTrimmedId === 0 ? null : { ...start, lastTrimmedId: String(start.lastTrimmedId) };
}

/**
 * The audit file as it is on disk now, read once: what a verifier walks (the running log
 * answers from memory, which an edit of the file since it loaded would not show).
 */
export function auditFileSnapshot(path: string, options: Pick<AuditLogOptions, 'retention'>): StoredAuditLog {
  const { events, start } = readAuditFile(path, options);
  return {
    // Cursors are event numbers one after another (readAuditFile checked): the index is arithmetic.
    read: async ({ after, limit }) => {
      const from = after === undefined ? 0 : Number(after) - start.lastTrimmedId;
      return events.slice(from, from + limit);
    },
    anchor: async () => anchorOf(start),
    headHash: async () => events.at(-1)?.hash ?? start.prevHash,
  };
}

/**
 * Parses the audit file without changing it (what `portcullis audit verify` reads): an
 * anchor line (written by retention, so refused when retention is not configured: a
 * prepended anchor would let a log with its first events removed pass as whole), then
 * audit events numbered one after another. A torn last line is left out and reported
 * through the byte counts.
 */
export function readAuditFile(path: string, options: Pick<AuditLogOptions, 'retention'>): { events: AuditEvent[]; start: LogStart; completeBytes: number; totalBytes: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], start: { prevHash: GENESIS_HASH, lastTrimmedId: 0 }, completeBytes: 0, totalBytes: 0 };
    throw error;
  }
  const complete = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, complete).split('\n').slice(0, -1);
  const parsedLines = lines.map((line, i) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new AuditLogCorruptError(`${path} line ${i + 1} is not JSON`);
    }
  });
  const anchor = parsedLines.length > 0 ? anchorSchema.safeParse(parsedLines[0]) : undefined;
  if (anchor?.success && !options.retention) throw new AuditLogCorruptError(`${path} line 1 is a chain-start anchor, but audit.retention is not configured: without it the log starts at the genesis hash`);
  const start: LogStart = anchor?.success ? anchor.data.anchor : { prevHash: GENESIS_HASH, lastTrimmedId: 0 };
  const skip = anchor?.success ? 1 : 0;
  const events = parsedLines.slice(skip).map((parsed, i) => {
    const event = auditEventSchema.safeParse(parsed);
    if (!event.success) throw new AuditLogCorruptError(`${path} line ${i + skip + 1} is not an audit event`);
    if (event.data.id !== String(start.lastTrimmedId + i + 1)) throw new AuditLogCorruptError(`${path} line ${i + skip + 1} has cursor ${event.data.id}`);
    return event.data;
  });
  return { events, start, completeBytes: Buffer.byteLength(text.slice(0, complete)), totalBytes: Buffer.byteLength(text) };
}
