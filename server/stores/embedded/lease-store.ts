import type { Clock } from '../../clock.js';
import type { LeaseStore } from '../types.js';

/** Leases of one instance, in memory: a group is a map of lease id → expiresAt. */
export class EmbeddedLeaseStore implements LeaseStore {
  private readonly groups = new Map<string, Map<string, number>>();

  constructor(private readonly clock: Clock) {}

  async acquire(group: string, id: string, limit: number, expiresAt: number): Promise<boolean> {
    const leases = this.live(group);
    if (!leases.has(id) && leases.size >= limit) return false;
    leases.set(id, expiresAt);
    this.groups.set(group, leases);
    return true;
  }

  async renew(group: string, ids: readonly string[], expiresAt: number): Promise<void> {
    const leases = this.live(group);
    for (const id of ids) leases.set(id, expiresAt);
    if (leases.size > 0) this.groups.set(group, leases);
  }

  async release(group: string, id: string): Promise<void> {
    const leases = this.groups.get(group);
    leases?.delete(id);
    if (leases?.size === 0) this.groups.delete(group);
  }

  /** The group's leases with the lapsed ones dropped (and an emptied group forgotten). */
  private live(group: string): Map<string, number> {
    const leases = this.groups.get(group) ?? new Map<string, number>();
    const now = this.clock.now();
    for (const [id, expiresAt] of leases) if (expiresAt <= now) leases.delete(id);
    if (leases.size === 0) this.groups.delete(group);
    return leases;
  }
}
