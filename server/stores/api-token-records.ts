import type { UserRecords } from './login-session-records.js';
import type { ApiTokenRecord, ApiTokenStore } from './types.js';

/** A token as a backend holds it: one written before `origin` existed has none. */
export type StoredApiToken = Omit<ApiTokenRecord, 'origin'> & { origin?: unknown };

/** The API token store over a backend's per-user records. */
export class ApiTokenRecords implements ApiTokenStore {
  constructor(private readonly records: UserRecords<StoredApiToken>) {}

  create(token: ApiTokenRecord): Promise<void> {
    return this.records.create(token);
  }

  async get(id: string): Promise<ApiTokenRecord | null> {
    const token = await this.records.get(id);
    return token && withOrigin(token);
  }

  async listByUser(userId: string): Promise<ApiTokenRecord[]> {
    return (await this.records.listByUser(userId)).map(withOrigin);
  }

  async delete(id: string): Promise<ApiTokenRecord | null> {
    const token = await this.records.delete(id);
    return token && withOrigin(token);
  }
}

/**
 * Anything but `login` reads as `minted`: a token from an older version (or a value we do
 * not know) may never mint tokens that outlive it, since nobody can say it came from a sign-in.
 */
function withOrigin(token: StoredApiToken): ApiTokenRecord {
  return { ...token, origin: token.origin === 'login' ? 'login' : 'minted' };
}
