import { checkListingCursor, listingKey } from '../../access/listing-cursor.js';
import type { AccessRequestRecord, GrantRecord } from '../../access/types.js';
import type { AccessStore, Listed } from '../types.js';

/** Single-instance access store: records in maps, listings as sorted key arrays. */
export class EmbeddedAccessStore implements AccessStore {
  private readonly requests = new Map<string, AccessRequestRecord>();
  private readonly grants = new Map<string, GrantRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();

  async createRequest(request: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    if (this.requests.has(request.id) || (grant && this.grants.has(grant.id))) return false;
    this.requests.set(request.id, structuredClone(request));
    if (grant) this.grants.set(grant.id, structuredClone(grant));
    return true;
  }

  async getRequest(id: string): Promise<AccessRequestRecord | null> {
    const request = this.requests.get(id);
    return request ? structuredClone(request) : null;
  }

  async updateRequest(next: AccessRequestRecord, grant?: GrantRecord): Promise<boolean> {
    const current = this.requests.get(next.id);
    if (!current || current.version !== next.version - 1 || (grant && this.grants.has(grant.id))) return false;
    this.requests.set(next.id, structuredClone(next));
    if (grant) this.grants.set(grant.id, structuredClone(grant));
    return true;
  }

  async listRequests(options: { requesterId?: string; after?: string; limit: number }): Promise<Listed<AccessRequestRecord>[]> {
    const all = [...this.requests.values()].filter((r) => options.requesterId === undefined || r.requester.id === options.requesterId);
    return newestFirst(all, options);
  }

  async dueRequests(now: number, limit: number): Promise<string[]> {
    return [...this.requests.values()].filter((r) => r.status === 'PENDING' && r.expiresAt <= now).slice(0, limit).map((r) => r.id);
  }

  async getGrant(id: string): Promise<GrantRecord | null> {
    const grant = this.grants.get(id);
    return grant ? structuredClone(grant) : null;
  }

  async updateGrant(next: GrantRecord): Promise<boolean> {
    const current = this.grants.get(next.id);
    if (!current || current.version !== next.version - 1) return false;
    this.grants.set(next.id, structuredClone(next));
    return true;
  }

  async listGrants(options: { userId?: string; after?: string; limit: number }): Promise<Listed<GrantRecord>[]> {
    const all = [...this.grants.values()].filter((g) => options.userId === undefined || g.user.id === options.userId);
    return newestFirst(
      all.map((g) => ({ ...g, createdAt: g.issuedAt })),
      options,
    ).map(({ cursor, record: { createdAt: _createdAt, ...grant } }) => ({ cursor, record: grant }));
  }

  async dueGrants(now: number, limit: number): Promise<string[]> {
    return [...this.grants.values()].filter((g) => g.revokedAt === null && g.expiredAt === null && g.expiresAt <= now).slice(0, limit).map((g) => g.id);
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
}

function newestFirst<T extends { id: string; createdAt: number }>(records: T[], options: { after?: string; limit: number }): Listed<T>[] {
  const after = options.after === undefined ? undefined : checkListingCursor(options.after);
  return records
    .map((record) => ({ cursor: listingKey(record.createdAt, record.id), record: structuredClone(record) }))
    .filter((item) => after === undefined || item.cursor < after)
    .sort((a, b) => (a.cursor < b.cursor ? 1 : -1))
    .slice(0, options.limit);
}
