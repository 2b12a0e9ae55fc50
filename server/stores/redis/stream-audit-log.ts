import { z } from 'zod';
import type { Clock } from '../../clock.js';
import { AuditLogCorruptError, InvalidCursorError, PortcullisError, StoreUnavailableError, TrimmedCursorError } from '../../errors.js';
import { abortableTail } from '../../audit/abortable-tail.js';
import { TailPace } from '../../audit/tail-pace.js';
import type { TailOptions } from '../../audit/tail-pace.js';
import { GENESIS_HASH } from '../../audit/chain.js';
import type { ChainLink } from '../../audit/chain.js';
import { anchorSeal } from '../../audit/checkpoints.js';
import { GroupCommitAppender } from '../../audit/group-commit.js';
import { RecentCommits } from '../../audit/recent-commits.js';
import { retentionNotConfigured } from '../../audit/retention.js';
import type { Redactor } from '../../audit/redact.js';
import { sealSchema } from '../../audit/seal.js';
import type { AuditCommitter } from '../../audit/group-commit.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditLogOptions, AuditPosition, ChainAnchor, ChainedAuditEvent, StoredAuditLog, TrimPolicy } from '../../audit/types.js';
import { defineScript, duplicateClient, durableWrites, guarded } from './connection.js';
import type { DurableWrite, ReplicaDurability } from './connection.js';
import type { RedisClient } from './connection.js';
import { compareIds, StreamFeed } from './stream-feed.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

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
 * anchor (ARGV[3]: the hash that entry chains to, the id of the last removed one, and its
 * seal, made by the caller, who alone holds the key). Nothing happens unless the stream
 * still holds that entry with ARGV[2] just before it: another instance may have trimmed
 * meanwhile. KEYS: stream, anchor.
 */
const trimBefore = defineScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
local before = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #before == 0 or before[1][1] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
`);

const anchorSchema: z.ZodType<ChainAnchor> = z.strictObject({
  prevHash: z.string().regex(/^[0-9a-f]{64}$/),
  lastTrimmedId: z.string().regex(/^\d{1,20}-\d{1,20}$/),
  seal: sealSchema.optional(),
});

type StreamEntry = [id: string, fields: string[]];

/** The stream, its chain head and its retention anchor: one slot, as the scripts touch them together. */
export function auditKeys(prefix: string): KeyNamer {
  return slotKeys(prefix, 'audit');
}

/**
 * Before hash tags (issue 21) the stream was `${prefix}audit`. Appending under the new names
 * beside it would open a second chain and leave the first unread: refused, with the way out.
 */
function legacyLayout(legacyKey: string, streamKey: string): PortcullisError {
  return new PortcullisError(
    'AUDIT_LEGACY_LAYOUT',
    `Redis holds an audit log under the old key layout (${legacyKey}); this version keeps it at ${streamKey}. Move it (and its head and anchor) with the RENAME commands in docs/redis.md#upgrading, or start on a fresh Redis or key prefix`,
  );
}

const CURSOR = /^\d{1,20}-\d{1,20}$/;
const TAIL_BATCH = 500;

/** The shared audit log: a Redis Stream whose entry ids are the cursors. */
export class StreamAuditLog implements AuditLog, AuditCommitter {
  private readonly appender: GroupCommitAppender;
  /** Every live tail of this instance waits on this one blocking reader (created on first use). */
  private feed: StreamFeed | undefined;
  private closed = false;
  /** Aborted by close(): ends the pauses of paced tails (they are not waiting on anything close() wakes). */
  private readonly closing = new AbortController();
  private readonly streamKey: string;
  private readonly headKey: string;
  private readonly anchorKey: string;
  private readonly legacyKey: string;
  /** Whether this instance has seen the log hold a chain (a head, or its own append): it never starts one from genesis again. */
  private chained = false;
  private readonly durable: DurableWrite;
  /** What this instance committed lately: its tails take these instead of parsing them back. */
  private readonly recent = new RecentCommits();

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    prefix: string,
    private readonly timeouts: { commandTimeoutMs: number; connectTimeoutMs: number; durability?: ReplicaDurability },
    redact: Redactor,
    private readonly options: AuditLogOptions,
  ) {
    const k = auditKeys(prefix);
    this.streamKey = k('stream');
    this.headKey = k('head');
    this.anchorKey = k('anchor');
    this.legacyKey = `${prefix}audit`;
    this.durable = durableWrites(redis, timeouts.durability);
    this.appender = new GroupCommitAppender(this, clock, redact, options.checkpoints);
  }

  checkpoint(options?: { final?: boolean }): Promise<AuditEvent | null> {
    return this.appender.checkpoint(options);
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    return this.appender.append(input);
  }

  /**
   * Read before the first append and after any failed one: so a broker that started while
   * Redis was away still finds an old-layout log before it writes (see legacyLayout).
   */
  async headHash(): Promise<string> {
    const [head, length, legacy] = await guarded('audit head', () => Promise.all([this.redis.get(this.headKey), this.redis.xlen(this.streamKey), this.redis.exists(this.legacyKey)]));
    if (legacy > 0) throw legacyLayout(this.legacyKey, this.streamKey);
    if (head === null && length > 0) throw headMissing();
    // A log this instance has written to does not become empty (retention keeps the head key):
    // one that did was wiped, and a new chain from genesis would hide that.
    if (head === null && this.chained) throw new AuditLogCorruptError('the audit log this instance was writing to is gone (stream and chain head emptied): refusing to start a new chain from genesis');
    if (head !== null) this.chained = true;
    return head ?? GENESIS_HASH;
  }

  /** Refuses to start beside an audit log under the old key layout. */
  async refuseLegacyLayout(): Promise<void> {
    if ((await guarded('audit layout check', () => this.redis.exists(this.legacyKey))) > 0) throw legacyLayout(this.legacyKey, this.streamKey);
  }

  async commit(links: ChainLink[], expectedHead: string): Promise<string[] | null> {
    const args = links.flatMap(({ event, json }) => [event.hash, json]);
    try {
      const keys = [this.streamKey, this.headKey];
      const ids = await guarded('audit append', () => this.durable(commitIfHead, keys, [GENESIS_HASH, expectedHead, ...args]));
      if (!ids) return null;
      this.chained = true;
      (ids as string[]).forEach((id, i) => this.recent.add(id, links[i]!));
      return ids as string[];
    } catch (error) {
      throw error instanceof Error && error.message.includes('AUDIT_HEAD_MISSING') ? headMissing() : error;
    }
  }

  async trim(policy: TrimPolicy): Promise<number> {
    if (!this.options.retention) throw retentionNotConfigured();
    const candidates: string[] = [];
    if (policy.before !== undefined) {
      // By the events' own time (the clock that stamped them), not by stream ids.
      const firstYoung = await this.firstEventAtOrAfter(policy.before);
      if (firstYoung) candidates.push(firstYoung);
      else candidates.push(await this.lastId());
    }
    if (policy.keep !== undefined) {
      const newest = (await guarded('audit trim', () => this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', policy.keep!))) as StreamEntry[];
      // The count removes nothing from the first event a sink has yet to send on.
      const held = (policy.holdFrom ?? []).reduce<string | undefined>((a, b) => (a === undefined || compareIds(b, a) < 0 ? b : a), undefined);
      if (newest.length === policy.keep) candidates.push(held !== undefined && compareIds(held, newest.at(-1)![0]) < 0 ? held : newest.at(-1)![0]);
    }
    if (candidates.length === 0) return 0;
    const firstKept = candidates.reduce((a, b) => (compareIds(a, b) >= 0 ? a : b));
    const [kept, removed] = await guarded('audit trim', () =>
      Promise.all([this.redis.xrange(this.streamKey, firstKept, firstKept), this.redis.xrevrange(this.streamKey, `(${firstKept}`, '-', 'COUNT', 1)]),
    );
    const [first] = (kept as StreamEntry[]).map(toEvent);
    const lastTrimmedId = (removed as StreamEntry[])[0]?.[0];
    if (!first || lastTrimmedId === undefined) return 0;
    const trimmed = { prevHash: first.prevHash, lastTrimmedId };
    const anchor: ChainAnchor = { ...trimmed, ...anchorSeal(this.options.checkpoints, trimmed, this.clock.now()) };
    return Number(await guarded('audit trim', () => trimBefore(this.redis, [this.streamKey, this.anchorKey], [firstKept, lastTrimmedId, JSON.stringify(anchor)])));
  }

  async read({ after, limit }: { after?: string; limit: number }): Promise<AuditEvent[]> {
    if (after === undefined) return ((await guarded('audit read', () => this.redis.xrange(this.streamKey, '-', '+', 'COUNT', limit))) as StreamEntry[]).map(toEvent);
    const entries = await this.retainedAfter(checkCursor(after), limit, 'audit read');
    if (entries.length === 0) await this.checkIssued(after);
    return entries.map(toEvent);
  }

  async readBackward({ before, limit }: { before?: string; limit: number }): Promise<AuditEvent[]> {
    // Checked first: backwards from an unissued cursor would return the newest events as if they came before it.
    if (before !== undefined) await Promise.all([this.checkIssued(checkCursor(before)), this.checkRetained(before)]);
    const end = before === undefined ? '+' : `(${before}`;
    const entries = (await guarded('audit read', () => this.redis.xrevrange(this.streamKey, end, '-', 'COUNT', limit))) as StreamEntry[];
    return entries.map(toEvent);
  }

  async stored(): Promise<StoredAuditLog> {
    return this;
  }

  tail(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncIterable<AuditEvent> {
    return abortableTail(signal, (inner) => this.follow(position, inner, options));
  }

  /** Ends every live tail (they fail with StoreUnavailableError) and refuses new ones. */
  close(): void {
    this.closed = true;
    this.closing.abort();
    this.feed?.close();
  }

  /**
   * Replay and live are one loop, always reading "after the last id it yielded", so
   * nothing falls between them: a plain read while there is something to read, then a
   * wait on the shared feed, which hands over the next entries (or says to read again).
   */
  private async *follow(position: AuditPosition, signal: AbortSignal, options?: TailOptions): AsyncGenerator<AuditEvent> {
    if (this.closed) throw new StoreUnavailableError('audit tail (store closed)');
    let last = position === 'start' ? ((await this.anchor())?.lastTrimmedId ?? '0-0') : position === 'end' ? await this.lastId() : checkCursor(position.after);
    if (typeof position === 'object') {
      await this.checkIssued(last);
      await this.checkRetained(last);
    }
    // Aborted while the feed's connection comes up (a Cluster's takes a moment): the tail just ends.
    const feed = await this.liveFeed(signal).catch((error: unknown) => {
      if (signal.aborted) return null;
      throw error;
    });
    if (!feed) return;
    let caughtUp = false;
    const pace = new TailPace(options, [signal, this.closing.signal]);
    while (!signal.aborted) {
      let entries: StreamEntry[] | null = null;
      if (caughtUp) {
        // Paced, the feed has usually moved on by then (null): what came meanwhile is read below in one go.
        const pause = pace.pause();
        if (pause) await pause;
        if (signal.aborted) break;
        if (this.closed) throw new StoreUnavailableError('audit tail (store closed)');
        entries = await feed.next(last, signal);
        pace.woken();
      }
      if (signal.aborted) break;
      if (entries === null) {
        // A reader retention overtook would skip events without knowing: refuse instead.
        entries = await this.retainedAfter(last, TAIL_BATCH, 'audit tail').catch((error: unknown) => {
          throw error instanceof TrimmedCursorError ? new TrimmedCursorError(last, 'the reader fell behind the retained audit log') : error;
        });
      }
      caughtUp = entries.length < TAIL_BATCH;
      for (const entry of entries) {
        const event = this.ownEvent(entry) ?? toEvent(entry);
        last = event.id;
        yield event;
      }
    }
  }

  /** The entry as this instance committed it, when it did lately (see RecentCommits), under the stream's id. */
  private ownEvent([id, fields]: StreamEntry): AuditEvent | undefined {
    const own = this.recent.get(id, fields[fields.indexOf('e') + 1]);
    return own && { ...own, id };
  }

  private async liveFeed(signal: AbortSignal): Promise<StreamFeed> {
    if (!this.feed) {
      const reader = duplicateClient(this.redis);
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

  /**
   * Up to `count` entries after the cursor, refused if retention removed any of them. Checked
   * after the read, not before: a trim by any instance between a check and the read would
   * hand over what follows the removed entries as if it came next. The anchor only moves
   * forward (a trim cuts past the last one), so a cursor it still retains after the read was
   * retained when the read ran.
   */
  private async retainedAfter(cursor: string, count: number, operation: string): Promise<StreamEntry[]> {
    const entries = (await guarded(operation, () => this.redis.xrange(this.streamKey, `(${cursor}`, '+', 'COUNT', count))) as StreamEntry[];
    await this.checkRetained(cursor);
    return entries;
  }

  /** A cursor older than the retained log would silently skip what retention removed. */
  private async checkRetained(cursor: string): Promise<void> {
    const anchor = await this.anchor();
    if (anchor && compareIds(cursor, anchor.lastTrimmedId) < 0) throw new TrimmedCursorError(cursor, 'older than the retained audit log');
  }

  async anchor(): Promise<ChainAnchor | null> {
    const json = await guarded('audit anchor', () => this.redis.get(this.anchorKey));
    if (json === null) return null;
    // Only retention writes an anchor: without it, one is a forged start hiding removed events.
    if (!this.options.retention) throw new AuditLogCorruptError(`the store holds a chain-start anchor (${this.anchorKey}), but audit.retention is not configured`);
    try {
      return anchorSchema.parse(JSON.parse(json));
    } catch {
      throw new AuditLogCorruptError(`the chain-start anchor (${this.anchorKey}) is malformed`);
    }
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

/**
 * A stream entry as the event it holds, under the stream's own id: an `id` (or any other
 * field the chain does not cover) inside the stored JSON would let a store writer relabel an
 * event and make cursor readers skip the next, with the chain still verifying.
 */
function toEvent([id, fields]: StreamEntry): AuditEvent {
  const json = fields[fields.indexOf('e') + 1];
  let stored: unknown;
  try {
    stored = JSON.parse(json ?? '');
  } catch {
    throw new AuditLogCorruptError(`audit stream entry ${id} is not JSON`);
  }
  // Exactly the chained members, checked by name (every reader, the in-process detector among them, reads each event: no schema walk per event).
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored) || !hasChainedMembers(stored)) throw new AuditLogCorruptError(`audit stream entry ${id} is not an audit event`);
  return { ...(stored as ChainedAuditEvent), id };
}

const CHAINED_MEMBERS: ReadonlySet<string> = new Set(['type', 'outcome', 'actor', 'server', 'tool', 'sessionId', 'data', 'time', 'prevHash', 'hash']);

function hasChainedMembers(stored: object): boolean {
  let count = 0;
  for (const key in stored) {
    if (!Object.hasOwn(stored, key) || !CHAINED_MEMBERS.has(key)) return false;
    count++;
  }
  return count === CHAINED_MEMBERS.size;
}
