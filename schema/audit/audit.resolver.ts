import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { AuditEvent as AuditEventRecord } from '../../server/audit/types.js';
import { Grant } from '../access/access.types.js';
import { visibleGrant } from '../access/grant.resolver.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { AuditChainVerification, AuditEvent, AuditEventPage, AuditFilter, AuditOrder } from './audit.types.js';

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventPage, {
    description:
      'The audit log, oldest first unless `order` says NEWEST_FIRST (pages then go back in time; `after` is the endCursor of the previous page of the same order). Auditors (with audit:read) see every event; others only their own.',
  })
  async auditEvents(
    @Arg('filter', () => AuditFilter, { nullable: true }) filter: AuditFilter | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('order', () => AuditOrder, { nullable: true, defaultValue: AuditOrder.OLDEST_FIRST }) order: AuditOrder | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuditEventPage> {
    const page = await ctx.auditService.list(requirePrincipal(ctx), filter ?? {}, { first, after, order, budget: ctx.auditScan });
    return { items: page.items.map(AuditEvent.from), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => AuditEvent, {
    nullable: true,
    description: 'One event by its cursor, when the caller may see it (auditors: any; others: their own) and the log still holds it; otherwise null, as for an unknown cursor.',
  })
  async auditEvent(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AuditEvent | null> {
    const [event] = await ctx.auditService.byIds(requirePrincipal(ctx), [id]);
    return event ? AuditEvent.from(event) : null;
  }

  @Query(() => AuditChainVerification, {
    description: 'Auditors only: the same walk over the hash chain as `portcullis audit verify` (with the configured checkpoint keys when there are some).',
  })
  async auditChainVerification(@Ctx() ctx: GraphQLContext): Promise<AuditChainVerification> {
    // A walk reads the whole log: an operation asking for it under many aliases walks it once.
    return AuditChainVerification.from(await (ctx.chainVerification ??= ctx.auditService.verify(requirePrincipal(ctx))));
  }

  @Subscription(() => AuditEvent, {
    name: 'auditEvents',
    description: 'Live audit feed. With `after`, first replays every event after that cursor, then goes live: no gap, no duplicate.',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const { filter, after } = args as { filter?: AuditFilter | null; after?: string | null };
      // Ended by the client unsubscribing (the iterator's return), not by this signal.
      return ctx.auditService.follow(requirePrincipal(ctx), filter ?? {}, after, new AbortController().signal);
    },
  })
  auditEventsFeed(
    @Root() event: AuditEventRecord,
    @Arg('filter', () => AuditFilter, { nullable: true }) _filter: AuditFilter | null,
    @Arg('after', () => String, { nullable: true }) _after: string | null,
  ): AuditEvent {
    return AuditEvent.from(event);
  }

  @FieldResolver(() => Grant, {
    nullable: true,
    description: 'The grant data.grantId names, when the caller may see it and holds the api scope: for a request the broker allowed, the grant that allowed it; for a grant.* event, that grant.',
  })
  async grant(@Root() event: AuditEvent, @Ctx() ctx: GraphQLContext): Promise<Grant | null> {
    const { grantId } = event.data;
    const caller = requirePrincipal(ctx);
    // Grants (and through them requests, reviews, groups) are the `api` scope's: an `audit:read` token reads the log only.
    return typeof grantId === 'string' && caller.scopes.has('api') ? visibleGrant(ctx, caller, grantId) : null;
  }
}
