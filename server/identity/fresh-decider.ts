import type { Clock } from '../clock.js';
import { AccessDeniedError } from '../errors.js';
import type { UserDirectoryStore } from '../stores/types.js';
import { formatDuration } from '../text/durations.js';
import type { Principal, Principals } from './principal.js';

/**
 * Who a person is now, for what their groups decide through a credential that outlives
 * sign-ins (an API token, an OAuth authorization): a decision (a review, accepting a changed
 * tool, acknowledging or suppressing an anomaly) and an auto-approval. Such a credential
 * carries the groups its IdP asserted when it was made, so without SCIM a person taken out of
 * the reviewers', auditors' or a self-serving role's group would go on using it for as long
 * as it lives (up to apiTokens.maxTtlSeconds). Their newest sign-in decides instead, and it
 * must be as recent as a browser session could be (session.ttlSeconds), as a Slack
 * decision's must (notifications/slack-actions.ts). A browser session is its own sign-in,
 * and a person whose groups SCIM manages is current already.
 */
export class FreshDeciders {
  constructor(
    private readonly deps: {
      directory: Pick<UserDirectoryStore, 'byEmail'>;
      principals: Pick<Principals, 'of' | 'groupsManaged'>;
      clock: Clock;
      maxAgeSeconds: number;
    },
  ) {}

  /** The caller as their newest sign-in within the bound has them, or null when there is none. */
  async newest(caller: Principal): Promise<Principal | null> {
    const { kind } = caller.credential;
    if (kind === 'session' || kind === 'integration' || (await this.deps.principals.groupsManaged(caller.user))) return caller;
    const now = this.deps.clock.now();
    const newest = (await this.deps.directory.byEmail(caller.user.email)).find((entry) => entry.user.id === caller.user.id);
    const signedIn = newest && now - newest.lastSeenAt <= this.deps.maxAgeSeconds * 1000 ? await this.deps.principals.of(newest.user, caller.scopes, caller.credential, newest.lastSeenAt) : null;
    if (!signedIn) return null;
    return caller.address === undefined ? signedIn : { ...signedIn, address: caller.address };
  }

  /** The caller as `newest` has them, for a decision: refused (SIGN_IN_TOO_OLD) without a recent sign-in. */
  async current(caller: Principal): Promise<Principal> {
    const signedIn = await this.newest(caller);
    if (!signedIn) {
      throw new AccessDeniedError('SIGN_IN_TOO_OLD', `sign in to Portcullis again first: a decision through an API token takes your groups from a sign-in within ${formatDuration(this.deps.maxAgeSeconds)}`);
    }
    return signedIn;
  }
}
