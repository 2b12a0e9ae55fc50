import type { NotificationStore, OutboxEntry } from '../types.js';
import { JournalLease } from './journal-lease.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

import { readyAt } from '../outbox-ready.js';

export const NOTIFICATION_COLLECTIONS = ['notification-lease', 'notification-outbox', 'notification-memos', 'notification-openers'];

/** The outbox in the journal: each decision taken in the journal's turn, so the fenced enqueue checks the lease and writes in one step. */
export class EmbeddedNotificationStore implements NotificationStore {
  private readonly lease: JournalLease;
  private readonly outbox: PersistedMap<OutboxEntry>;
  private readonly memos: PersistedMap<Record<string, string>>;
  private readonly openers: PersistedMap<string>;

  constructor(private readonly journal: StateJournal) {
    this.lease = new JournalLease(journal, 'notification-lease');
    this.outbox = journal.collection('notification-outbox');
    this.memos = journal.collection('notification-memos');
    this.openers = journal.collection('notification-openers');
  }

  claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    return this.lease.claim(holder, now, expiresAt);
  }

  release(holder: string): Promise<void> {
    return this.lease.release(holder);
  }

  enqueue(holder: string, leaseNow: number, cursor: string, entries: readonly OutboxEntry[], keepUntil: number): Promise<boolean> {
    return this.journal.commit(() => {
      const cursorOp = this.lease.cursorOp(holder, leaseNow, cursor);
      if (cursorOp === null) return { result: false, ops: [] };
      const ops: StateOp[] = [cursorOp];
      for (const entry of entries) {
        if (this.outbox.get(entry.id) !== undefined) continue;
        ops.push(this.outbox.setOp(entry.id, entry, keepUntil));
        if (entry.opens !== undefined) ops.push(this.openers.setOp(entry.opens, entry.id, keepUntil));
      }
      return { result: true, ops };
    });
  }

  async get(id: string): Promise<OutboxEntry | null> {
    return this.outbox.get(id) ?? null;
  }

  async entries(): Promise<OutboxEntry[]> {
    return [...this.outbox.live()].map(({ value }) => value).sort((a, b) => a.createdAt - b.createdAt);
  }

  async due(sink: string, now: number, limit: number): Promise<OutboxEntry[]> {
    const due: OutboxEntry[] = [];
    for (const { value } of this.outbox.live()) if (value.sink === sink && value.status === 'PENDING' && readyAt(value) <= now) due.push(value);
    return due.sort((a, b) => readyAt(a) - readyAt(b)).slice(0, limit);
  }

  update(next: OutboxEntry, keepUntil: number): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.outbox.get(next.id);
      if (current?.version !== next.version - 1) return { result: false, ops: [] };
      return { result: true, ops: [this.outbox.setOp(next.id, next, keepUntil)] };
    });
  }

  async memo(key: string): Promise<Record<string, string> | null> {
    return this.memos.get(key) ?? null;
  }

  async setMemo(key: string, memo: Record<string, string>, keepUntil: number): Promise<void> {
    await this.memos.set(key, memo, keepUntil);
  }

  async opener(key: string): Promise<string | null> {
    return this.openers.get(key) ?? null;
  }
}
