import type { AccessPolicy } from '../access/access-policy.js';
import type { AccessScope } from '../access/types.js';
import type { RoleConfig } from '../config/schema.js';
import { emailKey, sameEmail } from '../identity/email-key.js';
import { rolesOf } from '../identity/principal.js';
import type { Principals } from '../identity/principal.js';
import type { DirectoryEntry, UserDirectoryStore } from '../stores/types.js';

/** Group members told of one request at most: a reviewer group of thousands is a mailing list's job, not ours. */
export const MAX_GROUP_REVIEWERS = 200;
/**
 * Directory entries read per request at most, before eligibility is checked: members that
 * another IdP merely claims for the group (ruled out by `members.idps`) cannot fill the
 * recipients' places and crowd the real reviewers out, unless they outnumber them tenfold.
 */
export const MAX_GROUP_CANDIDATES = 2_000;
/** Candidates checked against their current standing at once (a SCIM read each). */
const STANDING_BATCH = 100;

export type ReviewedRequest = { server: string; requester: string } & Pick<AccessScope, 'tools' | 'resources' | 'prompts'>;

/**
 * Who is told of a request: the addresses the covering roles name (`members.emails`), and
 * the members of their groups (`members.groups`) as the user directory knows them from
 * their sign-ins within its maximum age (30 days, DIRECTORY_ENTRY_MAX_AGE_MS). A directory
 * entry is only what an IdP said at the last sign-in, so each is checked as the user stands
 * now (IdP still trusted, email domain, SCIM standing and groups), and must hold, under
 * `members.idps` too, a role that may review the request; the first MAX_GROUP_REVIEWERS
 * eligible, most recently seen first, are told. The requester is left out.
 */
export class ReviewerRecipients {
  constructor(
    private readonly deps: {
      policy: Pick<AccessPolicy, 'reviewerEmails' | 'reviewerRoles' | 'mayReview'>;
      roles: readonly RoleConfig[];
      directory: Pick<UserDirectoryStore, 'inGroups'>;
      principals: Pick<Principals, 'current'>;
    },
  ) {}

  async addressesFor(request: ReviewedRequest): Promise<string[]> {
    const { policy, directory } = this.deps;
    const groups = [...new Set(policy.reviewerRoles(request).flatMap((role) => role.members.groups))];
    const candidates = groups.length === 0 ? [] : await directory.inGroups(groups, MAX_GROUP_CANDIDATES);
    const members: string[] = [];
    for (let i = 0; i < candidates.length && members.length < MAX_GROUP_REVIEWERS; i += STANDING_BATCH) {
      const batch = await Promise.all(candidates.slice(i, i + STANDING_BATCH).map((entry) => this.eligible(entry, request)));
      members.push(...batch.flat());
    }
    const byAddress = new Map([...policy.reviewerEmails(request), ...members.slice(0, MAX_GROUP_REVIEWERS)].map((email) => [emailKey(email), email]));
    return [...byAddress.values()];
  }

  /** The entry's address, when its user stands now, is not the requester, and may review the request. */
  private async eligible({ user, lastSeenAt }: DirectoryEntry, request: ReviewedRequest): Promise<string[]> {
    const current = await this.deps.principals.current(user, lastSeenAt);
    return current !== null && !sameEmail(current.email, request.requester) && this.deps.policy.mayReview({ roles: rolesOf(current, this.deps.roles) }, request) ? [current.email] : [];
  }
}
