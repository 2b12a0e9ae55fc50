import type {
  ApiTokenRecord,
  ApiTokenStore,
  AssertionReplayCache,
  LoginSession,
  LoginSessionStore,
  OneTimeValueStore,
} from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import { UserIndex } from './user-index.js';

export class EmbeddedLoginSessionStore implements LoginSessionStore {
  private readonly sessions: PersistedMap<LoginSession>;

  constructor(journal: StateJournal) {
    this.sessions = journal.collection('sessions');
  }

  async create(session: LoginSession): Promise<void> {
    await this.sessions.set(session.id, session, session.expiresAt);
  }

  async get(id: string): Promise<LoginSession | null> {
    const session = this.sessions.get(id);
    return session ? structuredClone(session) : null;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.sessions.take(id)) !== undefined;
  }
}

export class EmbeddedApiTokenStore implements ApiTokenStore {
  private readonly byUser = new UserIndex();
  private readonly tokens: PersistedMap<ApiTokenRecord>;

  constructor(journal: StateJournal) {
    this.tokens = journal.collection('tokens', {
      onSet: (id, token) => this.byUser.add(token.user.id, id),
      onRemove: (id, token) => this.byUser.remove(token.user.id, id),
    });
  }

  async create(token: ApiTokenRecord): Promise<void> {
    await this.tokens.set(token.id, token, token.expiresAt);
  }

  async get(id: string): Promise<ApiTokenRecord | null> {
    const token = this.tokens.get(id);
    return token ? structuredClone(token) : null;
  }

  async listByUser(userId: string): Promise<ApiTokenRecord[]> {
    const live = this.byUser.ids(userId).flatMap((id) => this.tokens.get(id) ?? []);
    return live.sort((a, b) => a.createdAt - b.createdAt).map((t) => structuredClone(t));
  }

  async delete(id: string): Promise<ApiTokenRecord | null> {
    return (await this.tokens.take(id)) ?? null;
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
