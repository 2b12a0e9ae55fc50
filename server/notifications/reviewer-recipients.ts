import type { AccessPolicy } from '../access/access-policy.js';
import type { AccessScope } from '../access/types.js';
import type { RoleConfig } from '../config/schema.js';
import { rolesOf } from '../identity/principal.js';
import type { Principals } from '../identity/principal.js';
import type { UserDirectoryStore } from '../stores/types.js';

/** Directory entries read per request at most: a reviewer group of thousands is a mailing list's job, not ours. */
export const MAX_GROUP_REVIEWERS = 200;

export type ReviewedRequest = { server: string; requester: string } & Pick<AccessScope, 'tools' | 'resources' | 'prompts'>;

/**
 * Who is told of a request: the addresses the covering roles name (`members.emails`), and
 * the members of their groups (`members.groups`) as the user directory knows them from
 * their sign-ins. A directory entry is only what an IdP said at the last sign-in, so each is
 * checked as the user stands now (IdP still trusted, email domain, SCIM standing and groups),
 * and must hold, under `members.idps` too, a role that may review the request. The
 * requester is left out.
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
    const { policy, roles, directory, principals } = this.deps;
    const groups = [...new Set(policy.reviewerRoles(request).flatMap((role) => role.members.groups))];
    const seen = groups.length === 0 ? [] : await directory.inGroups(groups, MAX_GROUP_REVIEWERS);
    const requester = request.requester.toLowerCase();
    const members = await Promise.all(
      seen.map(async ({ user, lastSeenAt }) => {
        const current = await principals.current(user, lastSeenAt);
        return current !== null && current.email.toLowerCase() !== requester && policy.mayReview({ roles: rolesOf(current, roles) }, request) ? [current.email] : [];
      }),
    );
    const byAddress = new Map([...policy.reviewerEmails(request), ...members.flat()].map((email) => [email.toLowerCase(), email]));
    return [...byAddress.values()];
  }
}
