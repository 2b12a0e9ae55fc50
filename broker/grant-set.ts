import { CompiledGrant, decide } from '../server/access/grant-decision.js';
import type { Decision, Subject } from '../server/access/grant-decision.js';
import type { GrantRecord } from '../server/access/types.js';

export type GrantEnd = 'grant_expired' | 'grant_revoked';

/**
 * The grants one broker session rides on: every active grant its user holds for the
 * server. A tool, resource or prompt is allowed when some live grant allows it; the
 * session lives while any grant does. Decisions use only memory and the clock (the hot
 * path touches no store); each grant is compiled once, when it arrives.
 */
export class GrantSet {
  private readonly grants = new Map<string, CompiledGrant>();
  /** Why the last grant went, once none is left. */
  private lastEnd: GrantEnd = 'grant_expired';
  /** Counts the grants that left or were replaced: a decision made before a change is made again (allowingGrant). */
  private generation = 0;

  constructor(grants: readonly GrantRecord[]) {
    for (const grant of grants) this.grants.set(grant.id, new CompiledGrant(grant));
  }

  ids(): string[] {
    return [...this.grants.keys()];
  }

  has(grantId: string): boolean {
    return this.grants.has(grantId);
  }

  /** Drops grants past their expiresAt; null while one is live, else why none is. */
  check(now: number): GrantEnd | null {
    for (const [id, grant] of this.grants) {
      if (grant.expiresAt <= now) {
        this.grants.delete(id);
        this.lastEnd = 'grant_expired';
        this.generation++;
      }
    }
    return this.grants.size > 0 ? null : this.lastEnd;
  }

  /** A grant issued while the session runs; false when the set already holds it. */
  add(grant: GrantRecord): boolean {
    if (this.grants.has(grant.id)) return false;
    this.grants.set(grant.id, new CompiledGrant(grant));
    return true;
  }

  end(grantId: string, why: GrantEnd): void {
    if (!this.grants.delete(grantId)) return;
    this.lastEnd = why;
    this.generation++;
  }

  /**
   * Replaces a grant with its current stored state (revoked or expired ones are dropped).
   * A grant that ended while its state was being read stays ended: the read may predate
   * the revocation, and the revocation's event will not come again.
   */
  refresh(grant: GrantRecord | null, grantId: string, now: number): void {
    const held = this.grants.get(grantId);
    if (!held) return;
    if (!grant || grant.revokedAt !== null) this.end(grantId, 'grant_revoked');
    else if (grant.expiresAt <= now) this.end(grantId, 'grant_expired');
    // A grant's terms never change while it lasts (nothing extends it): one that did is decided on again. Most
    // re-reads (every session, every 15 s) find it as it was, and leave decisions made under it standing.
    else if (grant.expiresAt !== held.expiresAt) {
      this.grants.set(grant.id, new CompiledGrant(grant));
      this.generation++;
    }
  }

  /** Whether some live grant allows the subject, and if none does, the clause that refused it. */
  decide(subject: Subject): Decision {
    return decide(this.grants.values(), subject);
  }

  allows(subject: Subject): boolean {
    return this.decide(subject).allowed;
  }

  /** Whether some live grant covers read-only tools only (and so needs to know whether a tool is). */
  someReadOnly(): boolean {
    for (const grant of this.grants.values()) if (grant.readOnly) return true;
    return false;
  }

  /** A mark of the set as it is now, for allowingGrant. */
  mark(): number {
    return this.generation;
  }

  /**
   * The grant that allows now a subject `grantId` allowed when the set was at `mark`: that
   * one at once when no grant left since and it has not expired, else decided again
   * (another grant, perhaps); null when none does. A request waits between its decision
   * and its sending (the audit, a pin check, a rate limit), and runs after it: a grant that
   * ended meanwhile must not send it, nor let its answer through.
   */
  allowingGrant(subject: Subject, grantId: string, mark: number, now: number): string | null {
    const grant = this.grants.get(grantId);
    if (mark === this.generation && grant !== undefined && grant.expiresAt > now) return grantId;
    this.check(now);
    const decision = this.decide(subject);
    return decision.allowed ? decision.grantId : null;
  }

  /** Why a grant went, when the last one that went is the reason a request is refused. */
  lastEnded(): GrantEnd {
    return this.lastEnd;
  }

  nextExpiry(): number | null {
    let next: number | null = null;
    for (const grant of this.grants.values()) if (next === null || grant.expiresAt < next) next = grant.expiresAt;
    return next;
  }
}
