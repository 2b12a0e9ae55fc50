import type { Clock } from '../../clock.js';
import { emailKey } from '../../identity/email-key.js';
import { DIRECTORY_ENTRY_MAX_AGE_MS, inAnyGroup, withEmail } from '../directory-entries.js';
import type { DirectoryEntry, UserDirectoryStore } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';
import { UserIndex } from './user-index.js';

/** The user directory, journaled; its email and group indexes are derived as entries load and change. */
export class EmbeddedUserDirectory implements UserDirectoryStore {
  private readonly entries: PersistedMap<DirectoryEntry>;
  private readonly emails = new UserIndex();
  private readonly groups = new UserIndex();

  constructor(
    private readonly journal: StateJournal,
    private readonly clock: Clock,
    private readonly capacity: number,
  ) {
    this.entries = journal.collection<DirectoryEntry>('user-directory', {
      onSet: (id, entry) => {
        this.emails.add(emailKey(entry.user.email), id);
        for (const group of entry.user.groups) this.groups.add(group, id);
      },
      onRemove: (id, entry) => {
        this.emails.remove(emailKey(entry.user.email), id);
        for (const group of entry.user.groups) this.groups.remove(group, id);
      },
    });
  }

  seen(user: DirectoryEntry['user'], at: number): Promise<void> {
    return this.journal.commit(() => {
      const known = this.entries.get(user.id) !== undefined;
      // A known user's entry is removed first, so the indexes drop their former email and groups.
      const removed = known ? [user.id] : this.entries.size >= this.capacity ? this.leastRecentlySeen() : [];
      return { result: undefined, ops: [...removed.map((id) => this.entries.deleteOp(id)), this.entries.setOp(user.id, { user, lastSeenAt: at }, at + DIRECTORY_ENTRY_MAX_AGE_MS)] };
    });
  }

  async byEmail(email: string): Promise<DirectoryEntry[]> {
    return withEmail(this.read(this.emails.ids(emailKey(email))), email, this.clock.now()).map((entry) => structuredClone(entry));
  }

  /** Only the entries returned are copied: a large group costs a filter, not a copy of each member. */
  async inGroups(groups: readonly string[], limit: number): Promise<DirectoryEntry[]> {
    return inAnyGroup(this.read([...new Set(groups.flatMap((group) => this.groups.ids(group)))]), groups, limit, this.clock.now()).map((entry) => structuredClone(entry));
  }

  private read(ids: readonly string[]): (DirectoryEntry | null)[] {
    return ids.map((id) => this.entries.get(id) ?? null);
  }

  /** A scan, made only when a new user finds the directory full. */
  private leastRecentlySeen(): string[] {
    let oldest: { key: string; at: number } | null = null;
    for (const { key, value } of this.entries.live()) if (oldest === null || value.lastSeenAt < oldest.at) oldest = { key, at: value.lastSeenAt };
    return oldest ? [oldest.key] : [];
  }
}
