import { Arg, Ctx, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { AuditEvent as AuditEventRecord } from '../../server/audit/types.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { AuditEvent, AuditEventPage, AuditFilter } from './audit.types.js';

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventPage, { description: 'The audit log in event order. Auditors (with audit:read) see every event; others only their own.' })
  async auditEvents(
    @Arg('filter', () => AuditFilter, { nullable: true }) filter: AuditFilter | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuditEventPage> {
    const page = await ctx.auditService.list(requirePrincipal(ctx), filter ?? {}, { first, after });
    return { items: page.items.map(AuditEvent.from), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
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
}
