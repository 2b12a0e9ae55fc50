import type { TokenFamilyRecord } from '../../oauth/types.js';
import { StoreFullError } from '../../errors.js';
import { oldestFamilyFirst, TOKEN_FAMILIES_PER_USER, TOO_MANY_FAMILIES } from '../types.js';
import type { ExpiringRecords, OAuthStores, TokenFamilyStore } from '../types.js';
import type { PersistedMap, PersistedMapOptions } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import { UserIndex } from './user-index.js';

/** The journal collections of the OAuth stores, one per kind of record. */
export const OAUTH_COLLECTIONS = ['oauth-clients', 'oauth-codes', 'oauth-families', 'oauth-revoked-families', 'oauth-access-tokens', 'oauth-refresh-tokens', 'oauth-consents'];

class JournaledRecords<T extends { expiresAt: number }> implements ExpiringRecords<T> {
  private readonly records: PersistedMap<T>;

  constructor(journal: StateJournal, collection: string, options: PersistedMapOptions<T> = {}) {
    this.records = journal.collection(collection, options);
  }

  async put(key: string, value: T): Promise<void> {
    await this.records.set(key, value, value.expiresAt);
  }

  async get(key: string): Promise<T | null> {
    const value = this.records.get(key);
    return value === undefined ? null : structuredClone(value);
  }

  async take(key: string): Promise<T | null> {
    return (await this.records.take(key)) ?? null;
  }
}

/** Families, and the ids of revoked ones (each with the time it stays revoked until, as value and expiry). */
class JournaledTokenFamilies implements TokenFamilyStore {
  private readonly records: PersistedMap<TokenFamilyRecord>;
  private readonly revoked: PersistedMap<number>;

  constructor(
    private readonly journal: StateJournal,
    private readonly byUser: UserIndex,
  ) {
    this.records = journal.collection('oauth-families', {
      onSet: (id, family) => byUser.add(family.user.id, id),
      onRemove: (id, family) => byUser.remove(family.user.id, id),
    });
    this.revoked = journal.collection('oauth-revoked-families');
  }

  /** The revocation check, the count and the write in one journal turn: neither a revocation nor racing consents slip in between. */
  put(key: string, value: TokenFamilyRecord): Promise<boolean> {
    return this.journal.commit(() => {
      if (this.revoked.get(key) !== undefined) return { result: false, ops: [] };
      if (this.records.get(key) === undefined && this.live(value.user.id).length >= TOKEN_FAMILIES_PER_USER) throw new StoreFullError(TOO_MANY_FAMILIES);
      return { result: true, ops: [this.records.setOp(key, value, value.expiresAt)] };
    });
  }

  async get(key: string): Promise<TokenFamilyRecord | null> {
    const family = this.records.get(key);
    return family === undefined ? null : structuredClone(family);
  }

  take(key: string, revokedUntil = 0): Promise<TokenFamilyRecord | null> {
    return this.journal.commit(() => {
      const family = this.records.get(key);
      const marked = this.revoked.get(key) ?? 0;
      const until = Math.max(family?.expiresAt ?? 0, revokedUntil);
      const ops = [...(family ? [this.records.deleteOp(key)] : []), ...(until > marked ? [this.revoked.setOp(key, until, until)] : [])];
      return { result: family ?? null, ops };
    });
  }

  async listByUser(userId: string): Promise<TokenFamilyRecord[]> {
    return this.live(userId)
      .sort(oldestFamilyFirst)
      .map((family) => structuredClone(family));
  }

  private live(userId: string): TokenFamilyRecord[] {
    return this.byUser.ids(userId).flatMap((id) => this.records.get(id) ?? []);
  }
}

/** Single-instance OAuth state, journaled like the rest: a restart keeps clients, tokens and consents. */
export function embeddedOAuthStores(journal: StateJournal, capacity: number): OAuthStores {
  return {
    clients: new JournaledRecords(journal, 'oauth-clients', { capacity }),
    codes: new JournaledRecords(journal, 'oauth-codes', { capacity }),
    families: new JournaledTokenFamilies(journal, new UserIndex()),
    accessTokens: new JournaledRecords(journal, 'oauth-access-tokens'),
    refreshTokens: new JournaledRecords(journal, 'oauth-refresh-tokens'),
    consents: new JournaledRecords(journal, 'oauth-consents'),
  };
}
