import { busTopic } from '../stores/bus-topic.js';
import type { BusTopic } from '../stores/bus-topic.js';
import type { EventBus } from '../stores/types.js';
import type { Principal } from './principal.js';

const CREDENTIAL_ENDED = 'credential.ended';

const USER_CHANGED = 'user.changed';

/** Why a credential stopped working before its time. */
export type CredentialEndReason = 'revoked' | 'signed_out' | 'deprovisioned';

interface CredentialEnded {
  kind: Principal['credential']['kind'];
  id: string;
  reason: CredentialEndReason;
}

/**
 * A SCIM client changed a user (the Portcullis user it is: server/scim/standing.ts).
 * `deprovisioned`: deactivated or deleted, every connection of theirs ends. `regrouped`:
 * their groups, so their roles, changed: connections authorized by role (GraphQL
 * subscriptions) end, to be opened again under the new roles.
 */
export interface UserChanged {
  idp: string;
  userName: string;
  change: 'deprovisioned' | 'regrouped';
}

/**
 * Revoked API tokens, ended login sessions and users SCIM changed, announced on every instance, so the live
 * connections opened with them (MCP sessions, GraphQL subscriptions) close at once. A
 * hint like every bus event: holders also re-check the store periodically.
 */
export class CredentialEvents {
  private readonly topic: BusTopic<CredentialEnded>;
  private readonly users: BusTopic<UserChanged>;

  constructor(bus: EventBus) {
    this.topic = busTopic(bus, CREDENTIAL_ENDED);
    this.users = busTopic(bus, USER_CHANGED);
  }

  userChanged(event: UserChanged): void {
    this.users.publish(event);
  }

  onUserChanged(listener: (event: UserChanged) => void): () => void {
    return this.users.subscribe(listener);
  }

  ended(event: CredentialEnded): void {
    this.topic.publish(event);
  }

  onEnded(listener: (event: CredentialEnded) => void): () => void {
    return this.topic.subscribe(listener);
  }
}
