import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import { AuditLogCorruptError, InvalidCursorError, StoreUnavailableError } from '../../errors.js';
import { abortableTail } from '../../audit/abortable-tail.js';
import { GENESIS_HASH } from '../../audit/chain.js';
import { GroupCommitAppender } from '../../audit/group-commit.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditCommitter } from '../../audit/group-commit.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditPosition, ChainedAuditEvent } from '../../audit/types.js';
import { defineScript, guarded } from './connection.js';
import { compareIds, StreamFeed } from './stream-feed.js';

/**
 * Appends a batch only if the chain head is still the one the batch was hashed on, so
 * several instances writing one stream never fork the chain. The head is kept in its own
 * key rather than read off the stream: after an event is cut from the end of the stream,
 * the next event still chains to the removed one, so the gap shows to any verifier. A
 * lost head beside a non-empty stream would restart the chain unnoticed: refused.
 */
const commitIfHead = defineScript(`
local head = redis.call('GET', KEYS[2])
if not head then
  if redis.call('XLEN', KEYS[1]) > 0 then return redis.error_reply('AUDIT_HEAD_MISSING') end
  head = ARGV[1]
end
if head ~= ARGV[2] then return false end
local ids = {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'h', ARGV[i], 'e', ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[#ARGV - 1])
return ids
`);

/**
 * Trims the stream up to (excluding) the entry ARGV[1] and records, in the same step, the
 * hash the first kept entry chains to and the id of the last removed one.
 * KEYS: stream, anchor. ARGV: first kept id.
 */
const trimBefore = defineScript(`
local first = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #first == 0 then return 0 end
local before = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #before == 0 then return 0 end
local fields = first[1][2]
local prev
for i = 1, #fields, 2 do
  if fields[i] == 'e' then prev = cjson.decode(fields[i + 1]).prevHash end
end
redis.call('SET', KEYS[2], cjson.encode({ prevHash = prev, lastTrimmedId = before[1][1] }))
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
`);

type StreamEntry = [id: string, fields: string[]];

const CURSOR = /^\d{1,20}-\d{1,20}$/;
const TAIL_BATCH = 500;

/** The shared audit log: a Redis Stream whose entry ids are the cursors. */
export class StreamAuditLog implements AuditLog, AuditCommitter {
  private readonly appender: GroupCommitAppender;
  /** Every live tail of this instance waits on this one blocking reader (created on first use). */
  private feed: StreamFeed | undefined;
  private closed = false;
  private readonly streamKey: string;
  private readonly headKey: string;
  private readonly anchorKey: string;

  constructor(
    private readonly redis: Redis,
    clock: Clock,
    prefix: string,
    private readonly timeouts: { commandTimeoutMs: number; connectTimeoutMs: number },
    redact: Redactor,
  ) {
    this.streamKey = `${prefix}audit`;
    this.headKey = `${prefix}audit:head`;
    this.anchorKey = `${prefix}audit:anchor`;
    this.appender = new GroupCommitAppender(this, clock, redact);
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    return this.appender.append(input);
  }

  async headHash(): Promise<string> {
    const [head, length] = await guarded('audit head', () => Promise.all([this.redis.get(this.headKey), this.redis.xlen(this.streamKey)]));
    if (head === null && length > 0) throw headMissing();
    return head ?? GENESIS_HASH;
  }

  async commit(events: ChainedAuditEvent[], expectedHead: string): Promise<string[] | null> {
    const args = events.flatMap((e) => [e.hash, JSON.stringify(e)]);
    try {
      const ids = await guarded('audit append', () => commitIfHead(this.redis, [this.streamKey, this.headKey], [GENESIS_HASH, expectedHead, ...args]));
      return (ids as string[] | null) ?? null;
    } catch (error) {
      throw error instanceof Error && error.message.includes('AUDIT_HEAD_MISSING') ? headMissing() : error;
    }
  }

  async chainStart(): Promise<string> {
    return (await this.anchor())?.prevHash ?? GENESIS_HASH;
  }

  async trim(policy: { before?: number; keep?: number }): Promise<number> {
    const candidates: string[] = [];
    if (policy.before !== undefined) {
      // By the events' own time (the clock that stamped them), not by stream ids.
      const firstYoung = await this.firstEventAtOrAfter(policy.before);
      if (firstYoung) candidates.push(firstYoung);
      else candidates.push(await this.lastId());
    }
    if (policy.keep !== undefined) {
      const newest = (await guarded('audit trim', () => this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', policy.keep!))) as StreamEntry[];
      if (newest.length === policy.keep) candidates.push(newest.at(-1)![0]);
    }
    if (candidates.length === 0) return 0;
    const firstKept = candidates.reduce((a, b) => (compareIds(a, b) >= 0 ? a : b));
    return Number(await guarded('audit trim', () => trimBefore(this.redis, [this.streamKey, this.anchorKey], [firstKept])));
  }

  async read({ after, limit }: { after?: string; limit: number }): Promise<AuditEvent[]> {
    if (after !== undefined) await this.checkRetained(checkCursor(after));
    const start = after === undefined ? '-' : `(${checkCursor(after)}`;
    const entries = (await guarded('audit read', () => this.redis.xrange(this.streamKey, start, '+', 'COUNT', limit))) as StreamEntry[];
    if (entries.length === 0 && after !== undefined) await this.checkIssued(after);
    return entries.map(toEvent);
  }

  tail(position: AuditPosition, signal: AbortSignal): AsyncIterable<AuditEvent> {
    return abortableTail(signal, (inner) => this.follow(position, inner));
  }

  /** Ends every live tail (they fail with StoreUnavailableError) and refuses new ones. */
  close(): void {
    this.closed = true;
    this.feed?.close();
  }

  /**
   * Replay and live are one loop, always reading "after the last id it yielded", so
   * nothing falls between them: a plain read while there is something to read, then a
   * wait on the shared feed, which hands over the next entries (or says to read again).
   */
  private async *follow(position: AuditPosition, signal: AbortSignal): AsyncGenerator<AuditEvent> {
    if (this.closed) throw new StoreUnavailableError('audit tail (store closed)');
    let last = position === 'start' ? ((await this.anchor())?.lastTrimmedId ?? '0-0') : position === 'end' ? await this.lastId() : checkCursor(position.after);
    if (typeof position === 'object') {
      await this.checkIssued(last);
      await this.checkRetained(last);
    }
    const feed = await this.liveFeed(signal);
    let caughtUp = false;
    while (!signal.aborted) {
      let entries: StreamEntry[] | null = null;
      if (caughtUp) entries = await feed.next(last, signal);
      if (signal.aborted) break;
      if (entries === null) {
        // A reader retention overtook would skip events without knowing: refuse instead.
        await this.checkRetained(last).catch((error: unknown) => {
          throw error instanceof InvalidCursorError ? new InvalidCursorError(last, 'the reader fell behind the retained audit log') : error;
        });
        entries = (await guarded('audit tail', () => this.redis.xrange(this.streamKey, `(${last}`, '+', 'COUNT', TAIL_BATCH))) as StreamEntry[];
      }
      caughtUp = entries.length < TAIL_BATCH;
      for (const entry of entries) {
        const event = toEvent(entry);
        last = event.id;
        yield event;
      }
    }
  }

  private async liveFeed(signal: AbortSignal): Promise<StreamFeed> {
    if (!this.feed) {
      const reader = this.redis.duplicate();
      reader.on('error', () => {});
      // Blocking reads must end before the command timeout, or the wait would count as a failure.
      this.feed = new StreamFeed(reader, this.streamKey, Math.max(10, Math.floor(this.timeouts.commandTimeoutMs / 2)));
    }
    await this.feed.ready(this.timeouts.connectTimeoutMs, signal);
    return this.feed;
  }

  private async firstEventAtOrAfter(time: number): Promise<string | null> {
    let after: string | undefined;
    for (;;) {
      const page = await this.read({ after, limit: 500 });
      if (page.length === 0) return null;
      const young = page.find((e) => Date.parse(e.time) >= time);
      if (young) return young.id;
      after = page.at(-1)!.id;
    }
  }

  /** A cursor older than the retained log would silently skip what retention removed. */
  private async checkRetained(cursor: string): Promise<void> {
    const anchor = await this.anchor();
    if (anchor && compareIds(cursor, anchor.lastTrimmedId) < 0) throw new InvalidCursorError(cursor, 'older than the retained audit log');
  }

  private async anchor(): Promise<{ prevHash: string; lastTrimmedId: string } | null> {
    const json = await guarded('audit anchor', () => this.redis.get(this.anchorKey));
    return json === null ? null : (JSON.parse(json) as { prevHash: string; lastTrimmedId: string });
  }

  /** A cursor past the newest event was never issued by this log. */
  private async checkIssued(cursor: string): Promise<void> {
    if (compareIds(cursor, await this.lastId()) > 0) throw new InvalidCursorError(cursor);
  }

  private async lastId(): Promise<string> {
    const entries = (await guarded('audit tail', () => this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1))) as StreamEntry[];
    return entries[0]?.[0] ?? '0-0';
  }
}

function headMissing(): AuditLogCorruptError {
  return new AuditLogCorruptError('the chain head key is missing while the stream holds events (deleted, evicted, or restored without it)');
}

function checkCursor(cursor: string): string {
  if (!CURSOR.test(cursor)) throw new InvalidCursorError(cursor);
  return cursor;
}

function toEvent([id, fields]: StreamEntry): AuditEvent {
  const json = fields[fields.indexOf('e') + 1];
  return { id, ...(JSON.parse(json ?? '{}') as ChainedAuditEvent) };
}
