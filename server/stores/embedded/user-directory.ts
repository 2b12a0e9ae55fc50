import { inAnyGroup, withEmail } from '../directory-entries.js';
import type { DirectoryEntry, UserDirectoryStore } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import { UserIndex } from './user-index.js';

/** Entries do not expire: they go when the directory is full and they are the least recently seen. */
const NEVER = Number.MAX_SAFE_INTEGER;

/** The user directory, journaled; its email and group indexes are derived as entries load and change. */
export class EmbeddedUserDirectory implements UserDirectoryStore {
  private readonly entries: PersistedMap<DirectoryEntry>;
  private readonly emails = new UserIndex();
  private readonly groups = new UserIndex();

  constructor(
    private readonly journal: StateJournal,
    private readonly capacity: number,
  ) {
    this.entries = journal.collection<DirectoryEntry>('user-directory', {
      onSet: (id, entry) => {
        this.emails.add(entry.user.email.toLowerCase(), id);
        for (const group of entry.user.groups) this.groups.add(group, id);
      },
      onRemove: (id, entry) => {
        this.emails.remove(entry.user.email.toLowerCase(), id);
        for (const group of entry.user.groups) this.groups.remove(group, id);
      },
    });
  }

  seen(user: DirectoryEntry['user'], at: number): Promise<void> {
    return this.journal.commit(() => {
      const known = this.entries.get(user.id) !== undefined;
      // A known user's entry is removed first, so the indexes drop their former email and groups.
      const removed = known ? [user.id] : this.entries.size >= this.capacity ? this.leastRecentlySeen() : [];
      return { result: undefined, ops: [...removed.map((id) => this.entries.deleteOp(id)), this.entries.setOp(user.id, { user, lastSeenAt: at }, NEVER)] };
    });
  }

  async byEmail(email: string): Promise<DirectoryEntry[]> {
    return withEmail(this.read(this.emails.ids(email.toLowerCase())), email);
  }

  async inGroups(groups: readonly string[], limit: number): Promise<DirectoryEntry[]> {
    return inAnyGroup(this.read([...new Set(groups.flatMap((group) => this.groups.ids(group)))]), groups, limit);
  }

  private read(ids: readonly string[]): (DirectoryEntry | null)[] {
    return ids.map((id) => {
      const entry = this.entries.get(id);
      return entry ? structuredClone(entry) : null;
    });
  }

  /** A scan, made only when a new user finds the directory full. */
  private leastRecentlySeen(): string[] {
    let oldest: { key: string; at: number } | null = null;
    for (const { key, value } of this.entries.live()) if (oldest === null || value.lastSeenAt < oldest.at) oldest = { key, at: value.lastSeenAt };
    return oldest ? [oldest.key] : [];
  }
}
