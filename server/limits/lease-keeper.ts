import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { LeaseStore } from '../stores/types.js';

/** A place taken under a cap; give it back when the thing it counts ends. */
export interface Lease {
  release(): void;
}

/**
 * This instance's side of the shared leases (stores/types.ts LeaseStore): takes a place
 * in a group under its limit, renews every place it holds while it lives (one call per
 * group per round), and gives places back. If the instance dies its places lapse after
 * `ttlMs`, so a crash never locks a person out for longer than that.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Set<string>>();
  private readonly renewer: NodeJS.Timeout;

  constructor(private readonly deps: { leases: LeaseStore; clock: Clock; ttlMs: number; onRenewFailed?: (error: unknown) => void }) {
    this.renewer = setInterval(() => void this.renewAll(), Math.max(1000, Math.floor(deps.ttlMs / 3)));
    this.renewer.unref();
  }

  /** A place in `group` unless it already holds `limit`; null then. Throws when the store cannot answer. */
  async take(group: string, limit: number): Promise<Lease | null> {
    const id = randomUUID();
    if (!(await this.deps.leases.acquire(group, id, limit, this.deps.clock.now() + this.deps.ttlMs))) return null;
    const ids = this.held.get(group) ?? new Set<string>();
    ids.add(id);
    this.held.set(group, ids);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        ids.delete(id);
        if (ids.size === 0) this.held.delete(group);
        void this.deps.leases.release(group, id).catch(() => {});
      },
    };
  }

  close(): void {
    clearInterval(this.renewer);
  }

  private async renewAll(): Promise<void> {
    const expiresAt = this.deps.clock.now() + this.deps.ttlMs;
    for (const [group, ids] of [...this.held]) {
      await this.deps.leases.renew(group, [...ids], expiresAt).catch((error: unknown) => this.deps.onRenewFailed?.(error));
    }
  }
}
