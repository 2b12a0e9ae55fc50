import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { GENESIS_HASH } from '../../server/audit/chain.js';
import type { ChainLink } from '../../server/audit/chain.js';
import { GroupCommitAppender } from '../../server/audit/group-commit.js';
import type { AuditCommitter } from '../../server/audit/group-commit.js';
import { createRedactor } from '../../server/audit/redact.js';
import { ManualClock } from '../support/manual-clock.js';

/** A log in memory that records each write it was given: the batching is what is under test. */
class RecordingLog implements AuditCommitter {
  readonly writes: ChainLink[][] = [];
  private head = GENESIS_HASH;

  async headHash(): Promise<string> {
    return this.head;
  }

  async commit(links: ChainLink[], expectedHead: string): Promise<string[] | null> {
    if (expectedHead !== this.head) return null;
    this.writes.push(links);
    this.head = links.at(-1)!.event.hash;
    return links.map((_, i) => String(this.writes.flat().length - links.length + i + 1));
  }
}

const call = (n: number) => ({ type: 'mcp.request', outcome: 'SUCCESS' as const, actor: 'alice@example.com', data: { n } });

describe('the group commit', () => {
  it('writes the events appended in one turn of the event loop as one batch, the first one included', async () => {
    const log = new RecordingLog();
    const appender = new GroupCommitAppender(log, new ManualClock(), createRedactor());
    const events = await Promise.all([appender.append(call(1)), appender.append(call(2)), appender.append(call(3))]);
    expect(log.writes.map((batch) => batch.length)).toEqual([3]);
    expect(events.map((e) => e.data.n)).toEqual([1, 2, 3]);
    // Chained in order within the batch.
    expect(events[1]!.prevHash).toBe(events[0]!.hash);
    expect(events[2]!.prevHash).toBe(events[1]!.hash);
  });

  it('gathers what arrives while a write is in flight into the next one', async () => {
    const log = new RecordingLog();
    const appender = new GroupCommitAppender(log, new ManualClock(), createRedactor());
    const first = appender.append(call(1));
    await new Promise((resolve) => setImmediate(resolve));
    // The first batch is being written now; these two wait for it, then go together.
    await Promise.all([first, appender.append(call(2)), appender.append(call(3))]);
    expect(log.writes.map((batch) => batch.length)).toEqual([1, 2]);
  });

  it('hands the store one JSON per event: the canonical form the hash covers, with the hash added', async () => {
    const log = new RecordingLog();
    const appender = new GroupCommitAppender(log, new ManualClock(), createRedactor());
    const appended = await appender.append({ ...call(1), server: 'github', tool: 'search', sessionId: 's-1', data: { z: 'ünïcode ✓', a: [1, 2.5, null], nested: { b: true, a: '\u2028' } } });
    const [link] = log.writes.flat();
    const { id: _id, ...event } = appended;
    expect(JSON.parse(link!.json)).toEqual(event);
    const { hash, ...content } = event;
    expect(link!.json).toBe(`${canonicalize(content)!.slice(0, -1)},"hash":"${hash}"}`);
    expect(createHash('sha256').update(canonicalize(content)!).digest('hex')).toBe(hash);
  });
});
