import type { NotificationStore, OutboxEntry } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateOp } from './state-file.js';
import type { StateJournal } from './state-journal.js';

export const NOTIFICATION_COLLECTIONS = ['notification-lease', 'notification-outbox'];

const LEASE = 'lease';
/** The lease record never expires of itself: it is judged on its own `expiresAt`. */
const KEPT = Number.MAX_SAFE_INTEGER;

interface LeaseRecord {
  holder: string | null;
  expiresAt: number;
  cursor: string | null;
}

/** The outbox in the journal: each decision taken in the journal's turn, so the fenced enqueue checks the lease and writes in one step. */
export class EmbeddedNotificationStore implements NotificationStore {
  private readonly lease: PersistedMap<LeaseRecord>;
  private readonly outbox: PersistedMap<OutboxEntry>;

  constructor(private readonly journal: StateJournal) {
    this.lease = journal.collection('notification-lease');
    this.outbox = journal.collection('notification-outbox');
  }

  claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    return this.journal.commit<{ cursor: string | null } | null>(() => {
      const current = this.lease.get(LEASE) ?? { holder: null, expiresAt: 0, cursor: null };
      if (current.holder !== null && current.holder !== holder && current.expiresAt > now) return { result: null, ops: [] };
      return { result: { cursor: current.cursor }, ops: [this.lease.setOp(LEASE, { ...current, holder, expiresAt }, KEPT)] };
    });
  }

  release(holder: string): Promise<void> {
    return this.journal.commit(() => {
      const current = this.lease.get(LEASE);
      if (current?.holder !== holder) return { result: undefined, ops: [] };
      return { result: undefined, ops: [this.lease.setOp(LEASE, { ...current, holder: null, expiresAt: 0 }, KEPT)] };
    });
  }

  enqueue(holder: string, leaseNow: number, cursor: string, entries: readonly OutboxEntry[], keepUntil: number): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.lease.get(LEASE);
      if (current?.holder !== holder || current.expiresAt <= leaseNow) return { result: false, ops: [] };
      const ops: StateOp[] = [this.lease.setOp(LEASE, { ...current, cursor }, KEPT)];
      for (const entry of entries) if (this.outbox.get(entry.id) === undefined) ops.push(this.outbox.setOp(entry.id, entry, keepUntil));
      return { result: true, ops };
    });
  }

  async get(id: string): Promise<OutboxEntry | null> {
    return this.outbox.get(id) ?? null;
  }

  async entries(): Promise<OutboxEntry[]> {
    return [...this.outbox.live()].map(({ value }) => value).sort((a, b) => a.createdAt - b.createdAt);
  }

  update(next: OutboxEntry, keepUntil: number): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.outbox.get(next.id);
      if (current?.version !== next.version - 1) return { result: false, ops: [] };
      return { result: true, ops: [this.outbox.setOp(next.id, next, keepUntil)] };
    });
  }
}
