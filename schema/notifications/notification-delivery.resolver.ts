import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { NotificationDelivery, NotificationDeliveryPage, NotificationDeliveryStatus, NotificationSinkSummary } from './notification-delivery.types.js';

@Resolver(() => NotificationDelivery)
export class NotificationDeliveryResolver {
  @Query(() => NotificationDeliveryPage, { description: 'Notification deliveries, newest first (delivered ones kept 7 days, pending and dead ones 30). Auditors only (audit:read).' })
  async notificationDeliveries(
    @Arg('status', () => NotificationDeliveryStatus, { nullable: true }) status: NotificationDeliveryStatus | null,
    @Arg('sink', () => String, { nullable: true }) sink: string | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<NotificationDeliveryPage> {
    const page = await ctx.notifications.list(requirePrincipal(ctx), { status, sink }, { first, after });
    return { items: page.items.map(NotificationDelivery.from), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => [NotificationSinkSummary], { description: 'The notification sinks, with their dead letters and pending deliveries (what the console’s Notifications page and its badge show). Auditors only (audit:read).' })
  async notificationSinks(@Ctx() ctx: GraphQLContext): Promise<NotificationSinkSummary[]> {
    return ctx.notifications.sinks(requirePrincipal(ctx));
  }

  @Mutation(() => NotificationDelivery, { description: 'Requeues a dead letter: tried again at once under the same id. Auditors (audit:read and api); audited as notification.retried.' })
  async retryNotificationDelivery(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<NotificationDelivery> {
    return NotificationDelivery.from(await ctx.notifications.retry(requirePrincipal(ctx), id));
  }
}
