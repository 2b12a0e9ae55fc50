import type { LoginSession, LoginSessionStore } from './types.js';

/** Records indexed by user, as each backend keeps them (API tokens, login sessions). */
export interface UserRecords<T> {
  create(record: T): Promise<void>;
  get(id: string): Promise<T | null>;
  listByUser(userId: string): Promise<T[]>;
  delete(id: string): Promise<T | null>;
}

/** The login-session store over a backend's per-user records. */
export class LoginSessionRecords implements LoginSessionStore {
  constructor(private readonly records: UserRecords<LoginSession>) {}

  create(session: LoginSession): Promise<void> {
    return this.records.create(session);
  }

  get(id: string): Promise<LoginSession | null> {
    return this.records.get(id);
  }

  listByUser(userId: string): Promise<LoginSession[]> {
    return this.records.listByUser(userId);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.records.delete(id)) !== null;
  }
}
