import { LimitExceededError } from '../server/errors.js';
import type { Lease, LeaseKeeper } from '../server/limits/lease-keeper.js';
import type { GraphQLLimits } from './limits.js';

const NO_LEASE: Lease = { release: () => {} };

/**
 * Places for live subscriptions: each holds a feed, so they are capped per connection
 * and, across instances, per user (`graphql.maxSubscriptions*`), refused with
 * LIMIT_EXCEEDED past either cap.
 */
export class SubscriptionPlaces {
  constructor(
    private readonly leases: LeaseKeeper,
    private readonly limits: Pick<GraphQLLimits, 'maxSubscriptionsPerConnection' | 'maxSubscriptionsPerUser'>,
  ) {}

  /** Takes operation `id`'s place in its connection's `held` map, or throws LimitExceededError. */
  async take(held: Map<string, Lease>, id: string, userId: string | null): Promise<void> {
    const { maxSubscriptionsPerConnection, maxSubscriptionsPerUser } = this.limits;
    if (held.size >= maxSubscriptionsPerConnection) {
      throw new LimitExceededError(`too many subscriptions on this connection (graphql.maxSubscriptionsPerConnection: ${maxSubscriptionsPerConnection})`);
    }
    // Held at once, before the await: subscribe messages on one socket run concurrently.
    held.set(id, NO_LEASE);
    if (userId === null) return;
    const lease = await this.leases.take(`graphql-subscriptions:${userId}`, maxSubscriptionsPerUser).catch((error: unknown) => {
      held.delete(id);
      throw error;
    });
    if (!lease) {
      held.delete(id);
      throw new LimitExceededError(`too many live subscriptions for this user (graphql.maxSubscriptionsPerUser: ${maxSubscriptionsPerUser})`);
    }
    // Completed, or the socket closed, while the place was being taken: give it back.
    if (!held.has(id)) return lease.release();
    held.set(id, lease);
  }
}
