/**
 * Record ids per user, derived from a collection as its records are set and removed (and
 * so rebuilt as they load): it is never written to the journal itself.
 */
export class UserIndex {
  private readonly byUser = new Map<string, Set<string>>();

  add(userId: string, id: string): void {
    const ids = this.byUser.get(userId) ?? new Set<string>();
    ids.add(id);
    this.byUser.set(userId, ids);
  }

  remove(userId: string, id: string): void {
    const ids = this.byUser.get(userId);
    ids?.delete(id);
    if (ids?.size === 0) this.byUser.delete(userId);
  }

  /** The ids indexed under the user; the caller reads each record to know whether it is live. */
  ids(userId: string): string[] {
    return [...(this.byUser.get(userId) ?? [])];
  }
}
