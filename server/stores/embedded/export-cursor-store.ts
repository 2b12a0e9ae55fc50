import type { ExportCursorStore } from '../types.js';
import { JournalLease } from './journal-lease.js';
import type { LeaseRecord } from './journal-lease.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';

export const EXPORT_COLLECTIONS = ['export-leases'];

/** One lease record per sink (keyed by its name) in one journal collection: claim, release and the fenced commit each in the journal's turn. */
export class EmbeddedExportCursorStore implements ExportCursorStore {
  private readonly records: PersistedMap<LeaseRecord>;
  private readonly leases = new Map<string, JournalLease>();

  constructor(private readonly journal: StateJournal) {
    this.records = journal.collection('export-leases');
  }

  claim(sink: string, holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    return this.lease(sink).claim(holder, now, expiresAt);
  }

  release(sink: string, holder: string): Promise<void> {
    return this.lease(sink).release(holder);
  }

  commit(sink: string, holder: string, leaseNow: number, cursor: string): Promise<boolean> {
    return this.journal.commit(() => {
      const op = this.lease(sink).cursorOp(holder, leaseNow, cursor);
      return op === null ? { result: false, ops: [] } : { result: true, ops: [op] };
    });
  }

  async cursor(sink: string): Promise<string | null> {
    return this.lease(sink).cursor();
  }

  private lease(sink: string): JournalLease {
    let lease = this.leases.get(sink);
    if (!lease) this.leases.set(sink, (lease = new JournalLease(this.journal, this.records, sink)));
    return lease;
  }
}
