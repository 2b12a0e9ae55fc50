import { busTopic } from '../stores/bus-topic.js';
import type { BusTopic } from '../stores/bus-topic.js';
import type { EventBus } from '../stores/types.js';
import type { Principal } from './principal.js';

const CREDENTIAL_ENDED = 'credential.ended';

const USER_DEPROVISIONED = 'user.deprovisioned';

/** Why a credential stopped working before its time. */
export type CredentialEndReason = 'revoked' | 'signed_out' | 'deprovisioned';

interface CredentialEnded {
  kind: Principal['credential']['kind'];
  id: string;
  reason: CredentialEndReason;
}

/** A SCIM client deactivated or deleted a user: every credential of the Portcullis user it is (server/scim/standing.ts) ends. */
export interface UserDeprovisioned {
  idp: string;
  userName: string;
}

/**
 * Revoked API tokens, ended login sessions and deprovisioned users, announced on every instance, so the live
 * connections opened with them (MCP sessions, GraphQL subscriptions) close at once. A
 * hint like every bus event: holders also re-check the store periodically.
 */
export class CredentialEvents {
  private readonly topic: BusTopic<CredentialEnded>;
  private readonly deprovisions: BusTopic<UserDeprovisioned>;

  constructor(bus: EventBus) {
    this.topic = busTopic(bus, CREDENTIAL_ENDED);
    this.deprovisions = busTopic(bus, USER_DEPROVISIONED);
  }

  userDeprovisioned(event: UserDeprovisioned): void {
    this.deprovisions.publish(event);
  }

  onUserDeprovisioned(listener: (event: UserDeprovisioned) => void): () => void {
    return this.deprovisions.subscribe(listener);
  }

  ended(event: CredentialEnded): void {
    this.topic.publish(event);
  }

  onEnded(listener: (event: CredentialEnded) => void): () => void {
    return this.topic.subscribe(listener);
  }
}
