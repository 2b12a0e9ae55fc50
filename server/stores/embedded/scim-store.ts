import { emailKey } from '../../identity/email-key.js';
import type { ScimCollection, ScimGroupRecord, ScimStore, ScimUserRecord } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';

/** The journal collections of the SCIM store. */
export const SCIM_COLLECTIONS = ['scim-users', 'scim-groups', 'scim-sightings'];

/** SCIM resources do not expire: they live until their IdP deletes them. */
const NEVER = Number.MAX_SAFE_INTEGER;

const keyOf = (idp: string, id: string) => `${idp}/${id}`;

/** One kind of SCIM resource, journaled, with a name index derived as records load and change. */
class JournaledScimCollection<T extends { id: string; idp: string; createdAt: number }> implements ScimCollection<T> {
  private readonly records: PersistedMap<T>;
  /** `<idp>/<name folded as an email is>` → id (rebuilt as the journal loads, so no entry outlives a change of folding). */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly journal: StateJournal,
    collection: string,
    private readonly nameOf: (record: T) => string,
    capacity: number,
  ) {
    this.records = journal.collection(collection, {
      capacity,
      onSet: (_key, record) => this.names.set(this.nameKey(record.idp, nameOf(record)), record.id),
      onRemove: (_key, record) => this.names.delete(this.nameKey(record.idp, nameOf(record))),
    });
  }

  async get(idp: string, id: string): Promise<T | null> {
    const record = this.records.get(keyOf(idp, id));
    return record ? structuredClone(record) : null;
  }

  async find(idp: string, names: readonly string[]): Promise<T | null> {
    for (const name of names) {
      const id = this.names.get(this.nameKey(idp, name));
      if (id !== undefined) return this.get(idp, id);
    }
    return null;
  }

  async list(idp: string): Promise<T[]> {
    const prefix = `${idp}/`;
    const held = [...this.records.live()].filter(({ key }) => key.startsWith(prefix)).map(({ value }) => structuredClone(value));
    return held.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** The name checks and the writes in one journal turn, so two creates racing on a name make one record. */
  put(record: T, { displacing, tombstone }: { displacing?: string; tombstone?: T } = {}): Promise<boolean> {
    return this.journal.commit(() => {
      const holder = this.names.get(this.nameKey(record.idp, this.nameOf(record)));
      const displaced = holder !== undefined && holder !== record.id && holder === displacing;
      if (holder !== undefined && holder !== record.id && !displaced) return { result: false, ops: [] };
      const key = keyOf(record.idp, record.id);
      const previous = this.records.get(key);
      if (tombstone && !(previous && this.takesLeftName(tombstone, previous, record))) return { result: false, ops: [] };
      // The index entries of the displaced and of a renamed record go before the new ones are set.
      const removed = [...(displaced ? [keyOf(record.idp, holder)] : []), ...(previous ? [key] : [])].map((k) => this.records.deleteOp(k));
      const tombstoneOps = tombstone ? [this.records.setOp(keyOf(tombstone.idp, tombstone.id), tombstone, NEVER)] : [];
      return { result: true, ops: [...removed, this.records.setOp(key, record, NEVER), ...tombstoneOps] };
    });
  }

  async delete(idp: string, id: string): Promise<T | null> {
    return (await this.records.take(keyOf(idp, id))) ?? null;
  }

  /** Whether `tombstone` is a new record of the IdP named as `previous` was, a name `record` leaves. */
  private takesLeftName(tombstone: T, previous: T, record: T): boolean {
    const left = this.nameKey(previous.idp, this.nameOf(previous));
    return tombstone.idp === record.idp && !this.records.get(keyOf(tombstone.idp, tombstone.id)) && this.nameKey(tombstone.idp, this.nameOf(tombstone)) === left && this.nameKey(record.idp, this.nameOf(record)) !== left;
  }

  private nameKey(idp: string, name: string): string {
    return `${idp}/${emailKey(name)}`;
  }
}

/** Single-instance SCIM state, journaled like the rest. */
export function embeddedScimStore(journal: StateJournal, capacity: number): ScimStore {
  const sightings = journal.collection<string[]>('scim-sightings', { capacity });
  return {
    users: new JournaledScimCollection<ScimUserRecord>(journal, 'scim-users', (user) => user.userName, capacity),
    groups: new JournaledScimCollection<ScimGroupRecord>(journal, 'scim-groups', (group) => group.displayName, capacity),
    sighted: (idp, names, userId) =>
      journal.commit(() => {
        const ops = names.flatMap((name) => {
          const key = keyOf(idp, emailKey(name));
          const seen = sightings.get(key) ?? [];
          return seen.includes(userId) ? [] : [sightings.setOp(key, [...seen, userId], NEVER)];
        });
        return { result: undefined, ops };
      }),
    sightings: async (idp, name) => [...(sightings.get(keyOf(idp, emailKey(name))) ?? [])],
  };
}
