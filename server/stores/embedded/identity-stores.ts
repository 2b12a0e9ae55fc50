import type {
  AssertionReplayCache,
  LoginSession,
  OneTimeValueStore,
  UserIdentity,
} from '../types.js';
import { ApiTokenRecords } from '../api-token-records.js';
import type { StoredApiToken } from '../api-token-records.js';
import { LoginSessionRecords } from '../login-session-records.js';
import type { UserRecords } from '../login-session-records.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import { UserIndex } from './user-index.js';

/** Records in one journal collection, indexed by user. */
class EmbeddedUserRecords<T extends { id: string; user: UserIdentity; createdAt: number; expiresAt: number }> implements UserRecords<T> {
  private readonly byUser = new UserIndex();
  private readonly records: PersistedMap<T>;

  constructor(journal: StateJournal, collection: string) {
    this.records = journal.collection(collection, {
      onSet: (id, record) => this.byUser.add(record.user.id, id),
      onRemove: (id, record) => this.byUser.remove(record.user.id, id),
    });
  }

  async create(record: T): Promise<void> {
    await this.records.set(record.id, record, record.expiresAt);
  }

  async get(id: string): Promise<T | null> {
    const record = this.records.get(id);
    return record ? structuredClone(record) : null;
  }

  async listByUser(userId: string): Promise<T[]> {
    const live = this.byUser.ids(userId).flatMap((id) => this.records.get(id) ?? []);
    return live.sort((a, b) => a.createdAt - b.createdAt).map((r) => structuredClone(r));
  }

  async delete(id: string): Promise<T | null> {
    return (await this.records.take(id)) ?? null;
  }
}

export class EmbeddedLoginSessionStore extends LoginSessionRecords {
  constructor(journal: StateJournal) {
    super(new EmbeddedUserRecords<LoginSession>(journal, 'sessions'));
  }
}

export class EmbeddedApiTokenStore extends ApiTokenRecords {
  constructor(journal: StateJournal) {
    super(new EmbeddedUserRecords<StoredApiToken>(journal, 'tokens'));
  }
}

export class EmbeddedOneTimeValues implements OneTimeValueStore {
  private readonly values: PersistedMap<string>;

  constructor(journal: StateJournal, collection: string, capacity: number) {
    this.values = journal.collection(collection, { capacity });
  }

  async put(key: string, value: string, expiresAt: number): Promise<void> {
    await this.values.set(key, value, expiresAt);
  }

  putIfAbsent(key: string, value: string, expiresAt: number): Promise<boolean> {
    return this.values.setIfAbsent(key, value, expiresAt);
  }

  async get(key: string): Promise<string | null> {
    return this.values.get(key) ?? null;
  }

  async take(key: string): Promise<string | null> {
    return (await this.values.take(key)) ?? null;
  }
}

export class EmbeddedAssertionReplayCache implements AssertionReplayCache {
  private readonly consumed: PersistedMap<true>;

  constructor(journal: StateJournal) {
    this.consumed = journal.collection('consumed-assertions');
  }

  consume(assertionId: string, expiresAt: number): Promise<boolean> {
    return this.consumed.setIfAbsent(assertionId, true, expiresAt);
  }
}
