import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import { InvalidCursorError } from '../../errors.js';
import { GENESIS_HASH } from '../../audit/chain.js';
import { GroupCommitAppender } from '../../audit/group-commit.js';
import type { AuditCommitter } from '../../audit/group-commit.js';
import type { AuditEvent, AuditEventInput, AuditLog, AuditPosition, ChainedAuditEvent } from '../../audit/types.js';
import { defineScript, guarded, waitReady } from './connection.js';

/**
 * Appends a batch only if the chain head is still the one the batch was hashed on, so
 * several instances writing one stream never fork the chain. The head is kept in its own
 * key rather than read off the stream: an event cut from the end of the stream then
 * stops every later append instead of silently vanishing.
 */
const commitIfHead = defineScript(`
local head = redis.call('GET', KEYS[2]) or ARGV[1]
if head ~= ARGV[2] then return false end
local ids = {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'h', ARGV[i], 'e', ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[#ARGV - 1])
return ids
`);

type StreamEntry = [id: string, fields: string[]];

const CURSOR = /^\d{1,20}-\d{1,20}$/;
const TAIL_BATCH = 500;

/** The shared audit log: a Redis Stream whose entry ids are the cursors. */
export class StreamAuditLog implements AuditLog, AuditCommitter {
  private readonly appender: GroupCommitAppender;
  private readonly streamKey: string;
  private readonly headKey: string;

  constructor(
    private readonly redis: Redis,
    clock: Clock,
    prefix: string,
    private readonly timeouts: { commandTimeoutMs: number; connectTimeoutMs: number },
  ) {
    this.streamKey = `${prefix}audit`;
    this.headKey = `${prefix}audit:head`;
    this.appender = new GroupCommitAppender(this, clock);
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    return this.appender.append(input);
  }

  async headHash(): Promise<string> {
    return (await guarded('audit head', () => this.redis.get(this.headKey))) ?? GENESIS_HASH;
  }

  async commit(events: ChainedAuditEvent[], expectedHead: string): Promise<string[] | null> {
    const args = events.flatMap((e) => [e.hash, JSON.stringify(e)]);
    const ids = await guarded('audit append', () => commitIfHead(this.redis, [this.streamKey, this.headKey], [GENESIS_HASH, expectedHead, ...args]));
    return (ids as string[] | null) ?? null;
  }

  async read({ after, limit }: { after?: string; limit: number }): Promise<AuditEvent[]> {
    const start = after === undefined ? '-' : `(${checkCursor(after)}`;
    const entries = (await guarded('audit read', () => this.redis.xrange(this.streamKey, start, '+', 'COUNT', limit))) as StreamEntry[];
    return entries.map(toEvent);
  }

  /**
   * Each tail blocks on its own connection (XREAD BLOCK holds the connection), always
   * reading "after the last id it yielded": replay and live are one loop, so nothing
   * falls between them.
   */
  async *tail(position: AuditPosition, signal: AbortSignal): AsyncIterable<AuditEvent> {
    let last = position === 'start' ? '0-0' : position === 'end' ? await this.lastId() : checkCursor(position.after);
    const reader = this.redis.duplicate();
    reader.on('error', () => {});
    const stop = () => reader.disconnect();
    signal.addEventListener('abort', stop, { once: true });
    // Blocking reads must end before the command timeout, or the wait would count as a failure.
    const blockMs = Math.max(10, Math.floor(this.timeouts.commandTimeoutMs / 2));
    try {
      await waitReady(reader, this.timeouts.connectTimeoutMs);
      while (!signal.aborted) {
        const reply = await guarded('audit tail', () =>
          reader.xread('COUNT', TAIL_BATCH, 'BLOCK', blockMs, 'STREAMS', this.streamKey, last),
        ).catch((error: unknown) => {
          if (signal.aborted) return null;
          throw error;
        });
        for (const [, entries] of reply ?? []) {
          for (const entry of entries as StreamEntry[]) {
            const event = toEvent(entry);
            last = event.id;
            yield event;
          }
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      reader.disconnect();
    }
  }

  private async lastId(): Promise<string> {
    const entries = (await guarded('audit tail', () => this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1))) as StreamEntry[];
    return entries[0]?.[0] ?? '0-0';
  }
}

function checkCursor(cursor: string): string {
  if (!CURSOR.test(cursor)) throw new InvalidCursorError(cursor);
  return cursor;
}

function toEvent([id, fields]: StreamEntry): AuditEvent {
  const json = fields[fields.indexOf('e') + 1];
  return { id, ...(JSON.parse(json ?? '{}') as ChainedAuditEvent) };
}
