import { checkListingCursor, grantRetainedUntil, listingKey, requestRetainedUntil } from '../../access/listing-cursor.js';
import type { AccessRequestRecord, AccessScope, GrantRecord } from '../../access/types.js';
import { withScopeDefaults } from '../../access/types.js';
import type { AccessStore, Listed } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import type { StateOp } from './state-file.js';

/**
 * Single-instance access store: records in journal collections, listings sorted on read.
 * Each change is decided in the journal's turn, so compare-and-set holds and a request and
 * the grant it issues are written as one commit. Records are kept as long as the Redis
 * store keeps them (listing-cursor.ts), then dropped.
 */
export class EmbeddedAccessStore implements AccessStore {
  private readonly requests: PersistedMap<AccessRequestRecord>;
  private readonly grants: PersistedMap<GrantRecord>;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly journal: StateJournal) {
    this.requests = journal.collection('access-requests');
    this.grants = journal.collection('grants');
  }

  createRequest(request: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    return this.journal.commit(() => {
      if (this.requests.get(request.id) || (grant && this.grants.get(grant.id))) return { result: false, ops: [] };
      return { result: true, ops: this.requestOps(request, grant) };
    });
  }

  async getRequest(id: string): Promise<AccessRequestRecord | null> {
    const request = this.requests.get(id);
    return request ? withScopeDefaults(structuredClone(request)) : null;
  }

  updateRequest(next: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.requests.get(next.id);
      if (!current || current.version !== next.version - 1 || (grant && this.grants.get(grant.id))) return { result: false, ops: [] };
      return { result: true, ops: this.requestOps(next, grant) };
    });
  }

  async listRequests(options: { requesterId?: string; after?: string; limit: number }): Promise<Listed<AccessRequestRecord>[]> {
    const all = this.liveRequests().filter((r) => options.requesterId === undefined || r.requester.id === options.requesterId);
    return newestFirst(all, options);
  }

  async dueRequests(now: number, limit: number): Promise<string[]> {
    return this.liveRequests().filter((r) => r.status === 'PENDING' && r.expiresAt <= now).slice(0, limit).map((r) => r.id);
  }

  async pendingRequests(now: number): Promise<AccessRequestRecord[]> {
    return soonestEnding(this.liveRequests().filter((r) => r.status === 'PENDING' && r.expiresAt > now));
  }

  async getGrant(id: string): Promise<GrantRecord | null> {
    const grant = this.grants.get(id);
    return grant ? withScopeDefaults(structuredClone(grant)) : null;
  }

  updateGrant(next: GrantRecord): Promise<boolean> {
    return this.journal.commit(() => {
      const current = this.grants.get(next.id);
      if (!current || current.version !== next.version - 1) return { result: false, ops: [] };
      return { result: true, ops: [this.grants.setOp(next.id, next, grantRetainedUntil(next))] };
    });
  }

  async listGrants(options: { userId?: string; after?: string; limit: number }): Promise<Listed<GrantRecord>[]> {
    const all = this.liveGrants().filter((g) => options.userId === undefined || g.user.id === options.userId);
    return newestFirst(
      all.map((g) => ({ ...g, createdAt: g.issuedAt })),
      options,
    ).map(({ cursor, record: { createdAt: _createdAt, ...grant } }) => ({ cursor, record: grant }));
  }

  async dueGrants(now: number, limit: number): Promise<string[]> {
    return this.liveGrants().filter((g) => g.revokedAt === null && g.expiredAt === null && g.expiresAt <= now).slice(0, limit).map((g) => g.id);
  }

  async activeGrants(now: number): Promise<GrantRecord[]> {
    return soonestEnding(this.liveGrants().filter((g) => g.revokedAt === null && g.expiredAt === null && g.expiresAt > now));
  }

  async withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => {});
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  private requestOps(request: AccessRequestRecord, grant: GrantRecord | undefined): StateOp[] {
    const ops = [this.requests.setOp(request.id, request, requestRetainedUntil(request, grant?.expiresAt))];
    if (grant) ops.push(this.grants.setOp(grant.id, grant, grantRetainedUntil(grant)));
    return ops;
  }

  private liveRequests(): AccessRequestRecord[] {
    return Array.from(this.requests.live(), (entry) => entry.value);
  }

  private liveGrants(): GrantRecord[] {
    return Array.from(this.grants.live(), (entry) => entry.value);
  }
}

function newestFirst<T extends { id: string; createdAt: number } & Partial<AccessScope>>(records: T[], options: { after?: string; limit: number }): Listed<T>[] {
  const after = options.after === undefined ? undefined : checkListingCursor(options.after);
  return records
    .map((record) => ({ cursor: listingKey(record.createdAt, record.id), record: withScopeDefaults(structuredClone(record)) }))
    .filter((item) => after === undefined || item.cursor < after)
    .sort((a, b) => (a.cursor < b.cursor ? 1 : -1))
    .slice(0, options.limit);
}

/** By expiresAt then id, the order of the Redis store's due indexes. */
function soonestEnding<T extends { id: string; expiresAt: number } & Partial<AccessScope>>(records: T[]): T[] {
  return records.sort((a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((record) => withScopeDefaults(structuredClone(record)));
}
