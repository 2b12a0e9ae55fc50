import type { Clock } from '../../clock.js';
import type {
  ApiTokenRecord,
  ApiTokenStore,
  AssertionReplayCache,
  LoginSession,
  LoginSessionStore,
  OneTimeValueStore,
} from '../types.js';
import { ExpiringMap } from './expiring-map.js';

export class EmbeddedLoginSessionStore implements LoginSessionStore {
  private readonly sessions: ExpiringMap<LoginSession>;

  constructor(clock: Clock) {
    this.sessions = new ExpiringMap(clock);
  }

  async create(session: LoginSession): Promise<void> {
    this.sessions.set(session.id, structuredClone(session), session.expiresAt);
  }

  async get(id: string): Promise<LoginSession | null> {
    const session = this.sessions.get(id);
    return session ? structuredClone(session) : null;
  }

  async delete(id: string): Promise<boolean> {
    return this.sessions.take(id) !== undefined;
  }

  close(): void {
    this.sessions.close();
  }
}

export class EmbeddedApiTokenStore implements ApiTokenStore {
  private readonly byUser = new Map<string, Set<string>>();
  private readonly tokens: ExpiringMap<ApiTokenRecord>;

  constructor(clock: Clock) {
    this.tokens = new ExpiringMap(clock, { onRemove: (id, token) => this.unindex(token.user.id, id) });
  }

  async create(token: ApiTokenRecord): Promise<void> {
    this.tokens.set(token.id, structuredClone(token), token.expiresAt);
    const ids = this.byUser.get(token.user.id) ?? new Set<string>();
    ids.add(token.id);
    this.byUser.set(token.user.id, ids);
  }

  async get(id: string): Promise<ApiTokenRecord | null> {
    const token = this.tokens.get(id);
    return token ? structuredClone(token) : null;
  }

  async listByUser(userId: string): Promise<ApiTokenRecord[]> {
    const live = [...(this.byUser.get(userId) ?? [])].flatMap((id) => this.tokens.get(id) ?? []);
    return live.sort((a, b) => a.createdAt - b.createdAt).map((t) => structuredClone(t));
  }

  async delete(id: string): Promise<ApiTokenRecord | null> {
    return this.tokens.take(id) ?? null;
  }

  close(): void {
    this.tokens.close();
  }

  private unindex(userId: string, id: string): void {
    const ids = this.byUser.get(userId);
    ids?.delete(id);
    if (ids?.size === 0) this.byUser.delete(userId);
  }
}

export class EmbeddedOneTimeValues implements OneTimeValueStore {
  private readonly values: ExpiringMap<string>;

  constructor(clock: Clock, capacity: number) {
    this.values = new ExpiringMap(clock, { capacity });
  }

  async put(key: string, value: string, expiresAt: number): Promise<void> {
    this.values.set(key, value, expiresAt);
  }

  async get(key: string): Promise<string | null> {
    return this.values.get(key) ?? null;
  }

  async take(key: string): Promise<string | null> {
    return this.values.take(key) ?? null;
  }

  close(): void {
    this.values.close();
  }
}

export class EmbeddedAssertionReplayCache implements AssertionReplayCache {
  private readonly consumed: ExpiringMap<true>;

  constructor(clock: Clock) {
    this.consumed = new ExpiringMap(clock);
  }

  async consume(assertionId: string, expiresAt: number): Promise<boolean> {
    return this.consumed.setIfAbsent(assertionId, true, expiresAt);
  }

  close(): void {
    this.consumed.close();
  }
}
