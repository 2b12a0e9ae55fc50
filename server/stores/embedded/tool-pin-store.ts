import type { ToolChangeRecord, ToolDefinitionSeen, ToolPinCheck, ToolPinStore } from '../types.js';
import type { PersistedMap } from './persisted-map.js';
import type { StateJournal } from './state-journal.js';

/** Pins do not expire: they go only when a change is accepted over them. */
const KEPT = Number.MAX_SAFE_INTEGER;

/** `server` and `tool` in one key (NUL cannot be in a server slug). */
const keyOf = (server: string, tool: string) => `${server}\u0000${tool}`;

/**
 * Single-instance tool pins: two journal collections (pins, pending changes), each
 * decision taken in the journal's turn, so first writer wins and a change is recorded once.
 */
export class EmbeddedToolPinStore implements ToolPinStore {
  private readonly pins: PersistedMap<ToolDefinitionSeen>;
  private readonly pending: PersistedMap<ToolChangeRecord>;
  /** Pins per server (pins are never removed, so counting once at start holds). */
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly journal: StateJournal,
    private readonly capacity: number,
  ) {
    this.pins = journal.collection('tool-pins');
    this.pending = journal.collection('tool-changes');
    for (const { key } of this.pins.live()) {
      const server = key.slice(0, key.indexOf('\u0000'));
      this.counts.set(server, (this.counts.get(server) ?? 0) + 1);
    }
  }

  check(server: string, tool: string, seen: ToolDefinitionSeen): Promise<ToolPinCheck> {
    const key = keyOf(server, tool);
    return this.journal.commit<ToolPinCheck>(() => {
      const pinned = this.pins.get(key);
      if (!pinned) {
        const count = this.counts.get(server) ?? 0;
        if (count >= this.capacity) return { result: { verdict: 'full' as const }, ops: [] };
        // Counted as decided: a write that then fails leaves the count high, never low.
        this.counts.set(server, count + 1);
        return { result: { verdict: 'pinned' as const, created: true }, ops: [this.pins.setOp(key, seen, KEPT)] };
      }
      if (pinned.hash === seen.hash) return { result: { verdict: 'pinned' as const, created: false }, ops: [] };
      const recorded = this.pending.get(key)?.seen.hash !== seen.hash;
      const ops = recorded ? [this.pending.setOp(key, { server, tool, pinned, seen }, KEPT)] : [];
      return { result: { verdict: 'changed' as const, pinnedHash: pinned.hash, recorded }, ops };
    });
  }

  async changes(server?: string): Promise<ToolChangeRecord[]> {
    const found = [...this.pending.live()].map(({ value }) => structuredClone(value)).filter((c) => server === undefined || c.server === server);
    return found.sort((a, b) => a.seen.at - b.seen.at);
  }

  accept(server: string, tool: string, hash: string): Promise<ToolChangeRecord | null> {
    const key = keyOf(server, tool);
    return this.journal.commit(() => {
      const change = this.pending.get(key);
      if (!change || change.seen.hash !== hash) return { result: null, ops: [] };
      return { result: structuredClone(change), ops: [this.pins.setOp(key, change.seen, KEPT), this.pending.deleteOp(key)] };
    });
  }
}
