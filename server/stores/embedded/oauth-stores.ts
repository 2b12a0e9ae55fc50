import type { ExpiringRecords, OAuthStores } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';

/** The journal collections of the OAuth stores, one per kind of record. */
export const OAUTH_COLLECTIONS = ['oauth-clients', 'oauth-codes', 'oauth-families', 'oauth-access-tokens', 'oauth-refresh-tokens', 'oauth-consents'];

class JournaledRecords<T extends { expiresAt: number }> implements ExpiringRecords<T> {
  private readonly records: PersistedMap<T>;

  constructor(journal: StateJournal, collection: string, capacity?: number) {
    this.records = journal.collection(collection, { capacity });
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

/** Single-instance OAuth state, journaled like the rest: a restart keeps clients, tokens and consents. */
export function embeddedOAuthStores(journal: StateJournal, capacity: number): OAuthStores {
  return {
    clients: new JournaledRecords(journal, 'oauth-clients', capacity),
    codes: new JournaledRecords(journal, 'oauth-codes', capacity),
    families: new JournaledRecords(journal, 'oauth-families'),
    accessTokens: new JournaledRecords(journal, 'oauth-access-tokens'),
    refreshTokens: new JournaledRecords(journal, 'oauth-refresh-tokens'),
    consents: new JournaledRecords(journal, 'oauth-consents'),
  };
}
