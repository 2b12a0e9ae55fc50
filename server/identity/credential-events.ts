import { busTopic } from '../stores/bus-topic.js';
import type { BusTopic } from '../stores/bus-topic.js';
import type { EventBus } from '../stores/types.js';
import type { Principal } from './principal.js';

const CREDENTIAL_ENDED = 'credential.ended';

/** Why a credential stopped working before its time. */
export type CredentialEndReason = 'revoked' | 'signed_out';

interface CredentialEnded {
  kind: Principal['credential']['kind'];
  id: string;
  reason: CredentialEndReason;
}

/**
 * Revoked API tokens and ended login sessions, announced on every instance, so the live
 * connections opened with them (MCP sessions, GraphQL subscriptions) close at once. A
 * hint like every bus event: holders also re-check the store periodically.
 */
export class CredentialEvents {
  private readonly topic: BusTopic<CredentialEnded>;

  constructor(bus: EventBus) {
    this.topic = busTopic(bus, CREDENTIAL_ENDED);
  }

  ended(event: CredentialEnded): void {
    this.topic.publish(event);
  }

  onEnded(listener: (event: CredentialEnded) => void): () => void {
    return this.topic.subscribe(listener);
  }
}
