import { mkdirSync, openSync, closeSync, readFileSync, ftruncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../clock.js';
import { AuditLogCorruptError, InvalidCursorError, StoreUnavailableError } from '../../errors.js';
import { abortableTail } from '../../audit/abortable-tail.js';
import { findChainBreak, GENESIS_HASH } from '../../audit/chain.js';
import { auditEventSchema } from '../../audit/event-schema.js';
import type { Redactor } from '../../audit/redact.js';
import { lockDataDir } from './data-dir-lock.js';
import { GroupCommitAppender } from '../../audit/group-commit.js';
import type { AuditCommitter } from '../../audit/group-commit.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditPosition, ChainedAuditEvent } from '../../audit/types.js';

export const AUDIT_FILE_NAME = 'audit.jsonl';

/**
 * The single-instance audit log: one JSON line per event in `dataDir/audit.jsonl`,
 * fdatasync'd before an append resolves, so a crash or restart loses nothing that was
 * acknowledged. Cursors are the 1-based line number.
 */
export class FileAuditLog implements AuditLog, AuditCommitter {
  private readonly events: AuditEvent[];
  private readonly appender: GroupCommitAppender;
  private waiters = new Set<() => void>();
  private closed = false;
  /** Set when a failed write could not be undone: the log refuses every later append. */
  private broken: Error | undefined;

  private constructor(
    private readonly file: FileHandle,
    events: AuditEvent[],
    clock: Clock,
    redact: Redactor,
    private readonly unlock: () => void,
  ) {
    this.events = events;
    this.appender = new GroupCommitAppender(this, clock, redact);
  }

  static async open(dataDir: string, clock: Clock, redact: Redactor): Promise<FileAuditLog> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const unlock = lockDataDir(dataDir);
    try {
      const path = join(dataDir, AUDIT_FILE_NAME);
      const events = loadEvents(path);
      const file = await open(path, 'a', 0o600);
      return new FileAuditLog(file, events, clock, redact, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    return this.appender.append(input);
  }

  async headHash(): Promise<string> {
    return this.events.at(-1)?.hash ?? GENESIS_HASH;
  }

  async commit(chained: ChainedAuditEvent[], expectedHead: string): Promise<string[] | null> {
    if (this.closed || this.broken) throw new StoreUnavailableError('audit append (log closed)', this.broken);
    if ((await this.headHash()) !== expectedHead) return null;
    const start = this.events.length;
    const events = chained.map((event, i) => ({ id: String(start + i + 1), ...event }));
    const size = (await this.file.stat()).size;
    try {
      await this.file.appendFile(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await this.file.datasync();
    } catch (error) {
      // Undo a partial write, or the next append would bury a torn line mid-file.
      await this.file.truncate(size).catch((truncateError: unknown) => {
        this.broken = truncateError instanceof Error ? truncateError : new Error(String(truncateError));
      });
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

  tail(position: AuditPosition, signal: AbortSignal): AsyncIterable<AuditEvent> {
    return abortableTail(signal, (inner) => this.follow(position, inner));
  }

  /** Throws StoreUnavailableError once the log can no longer be written. */
  ping(): void {
    if (this.closed || this.broken) throw new StoreUnavailableError('audit log (closed or broken)', this.broken);
  }

  private async *follow(position: AuditPosition, signal: AbortSignal): AsyncGenerator<AuditEvent> {
    let next = position === 'start' ? 0 : position === 'end' ? this.events.length : this.indexAfter(position.after);
    while (!signal.aborted) {
      if (this.closed) throw new StoreUnavailableError('audit tail (log closed)');
      if (next < this.events.length) {
        yield this.events[next++]!;
        continue;
      }
      await this.nextAppend(signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.file.close();
    this.unlock();
  }

  private indexAfter(cursor: string): number {
    // Only cursors this log issued: a cursor past the end would silently skip what comes next.
    if (!/^(0|[1-9]\d{0,15})$/.test(cursor) || Number(cursor) > this.events.length) throw new InvalidCursorError(cursor);
    return Number(cursor);
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
function loadEvents(path: string): AuditEvent[] {
  const { events, completeBytes, totalBytes } = readAuditFile(path);
  if (completeBytes < totalBytes) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, completeBytes);
    } finally {
      closeSync(fd);
    }
  }
  const broken = findChainBreak(events, GENESIS_HASH);
  if (broken) throw new AuditLogCorruptError(`${path} line ${broken.index + 1}: ${broken.reason.replaceAll('_', ' ')}`);
  return events;
}

/**
 * Parses the audit file without changing it (what `portcullis audit verify` reads): every
 * complete line must be an audit event whose cursor is its line number. A torn last line
 * is left out and reported through the byte counts.
 */
export function readAuditFile(path: string): { events: AuditEvent[]; completeBytes: number; totalBytes: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], completeBytes: 0, totalBytes: 0 };
    throw error;
  }
  const complete = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, complete).split('\n').slice(0, -1);
  const events = lines.map((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new AuditLogCorruptError(`${path} line ${i + 1} is not JSON`);
    }
    const event = auditEventSchema.safeParse(parsed);
    if (!event.success) throw new AuditLogCorruptError(`${path} line ${i + 1} is not an audit event`);
    if (event.data.id !== String(i + 1)) throw new AuditLogCorruptError(`${path} line ${i + 1} has cursor ${event.data.id}`);
    return event.data;
  });
  return { events, completeBytes: Buffer.byteLength(text.slice(0, complete)), totalBytes: Buffer.byteLength(text) };
}
