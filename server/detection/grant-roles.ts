import type { AccessStore } from '../stores/types.js';
import { roleOfRule } from './observe.js';

/**
 * The role each grant was issued under, looked up once per grant: a grant's rule never
 * changes, so a cached answer stays right. Bounded: the oldest lookups go first.
 */
export class GrantRoles {
  private readonly roles = new Map<string, string | null>();

  constructor(
    private readonly access: Pick<AccessStore, 'getGrant'>,
    private readonly capacity = 10_000,
  ) {}

  has(grantId: string): boolean {
    return this.roles.has(grantId);
  }

  /** Looks the grant up (a grant gone from the store has no role). Throws StoreUnavailableError when the store does not answer. */
  async load(grantId: string): Promise<void> {
    const grant = await this.access.getGrant(grantId);
    if (this.roles.size >= this.capacity) this.roles.delete(this.roles.keys().next().value!);
    this.roles.set(grantId, roleOfRule(grant?.rule ?? null));
  }

  /** The role of a grant `load` has looked up; null otherwise. */
  readonly roleOf = (grantId: string): string | null => this.roles.get(grantId) ?? null;
}
