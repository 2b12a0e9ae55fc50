import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { AnomalyRecord, RuleId } from '../../server/detection/types.js';
import { AuditEvent } from '../audit/audit.types.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { Anomaly, AnomalyFilter, AnomalyPage, AnomalySuppression, SuppressAnomaliesInput } from './anomaly.types.js';

@Resolver(() => Anomaly)
export class AnomalyResolver {
  @Query(() => AnomalyPage, { description: 'Anomalies the detector raised, newest first (the newest detection.keepAnomalies; the audit log keeps every one). Auditors only (audit:read).' })
  async anomalies(
    @Arg('filter', () => AnomalyFilter, { nullable: true }) filter: AnomalyFilter | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AnomalyPage> {
    const { rule, ...rest } = filter ?? {};
    const page = await ctx.anomalies.list(requirePrincipal(ctx), { ...rest, rule: rule as RuleId | null | undefined }, { first, after });
    return { items: page.items.map(Anomaly.from), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => Anomaly, { nullable: true, description: 'One anomaly by id. Auditors only; an unknown id is NOT_FOUND.' })
  async anomaly(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Anomaly> {
    return Anomaly.from(await ctx.anomalies.get(requirePrincipal(ctx), id));
  }

  @Query(() => [AnomalySuppression], { description: 'Live suppressions, soonest to expire first. Auditors only.' })
  async anomalySuppressions(@Ctx() ctx: GraphQLContext): Promise<AnomalySuppression[]> {
    return (await ctx.anomalies.suppressions(requirePrincipal(ctx))).map(AnomalySuppression.from);
  }

  @Mutation(() => Anomaly, { description: 'Marks an open anomaly as seen and handled, with an optional note. Auditors (audit:read and api); audited as anomaly.acknowledged.' })
  async acknowledgeAnomaly(@Arg('id', () => ID) id: string, @Arg('note', () => String, { nullable: true }) note: string | null, @Ctx() ctx: GraphQLContext): Promise<Anomaly> {
    return Anomaly.from(await ctx.anomalies.acknowledge(requirePrincipal(ctx), id, note));
  }

  @Mutation(() => AnomalySuppression, {
    description: 'Silences a rule for a user until the duration is up (a known cause: a migration, a pen test). Auditors (audit:read and api); audited as anomaly.suppressed.',
  })
  async suppressAnomalies(@Arg('input', () => SuppressAnomaliesInput) input: SuppressAnomaliesInput, @Ctx() ctx: GraphQLContext): Promise<AnomalySuppression> {
    return AnomalySuppression.from(await ctx.anomalies.suppress(requirePrincipal(ctx), input));
  }

  @Mutation(() => AnomalySuppression, { description: 'Ends a live suppression now. Auditors (audit:read and api); audited as anomaly.unsuppressed.' })
  async removeSuppression(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AnomalySuppression> {
    return AnomalySuppression.from(await ctx.anomalies.unsuppress(requirePrincipal(ctx), id));
  }

  @Subscription(() => Anomaly, {
    name: 'anomalyDetected',
    description: 'Anomalies as they are raised. With `after` (an audit cursor, e.g. an auditEventId), first replays those raised after it: no gap, no duplicate. Auditors only.',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const { after } = args as { after?: string | null };
      // Ended by the client unsubscribing (the iterator's return), not by this signal.
      return ctx.anomalies.follow(requirePrincipal(ctx), after, new AbortController().signal);
    },
  })
  anomalyDetected(@Root() record: AnomalyRecord, @Arg('after', () => String, { nullable: true }) _after: string | null): Anomaly {
    return Anomaly.from(record);
  }

  @FieldResolver(() => [AuditEvent], { description: 'The audit events that triggered it (oldest first), those the log still holds.' })
  async triggeringEvents(@Root() anomaly: Anomaly, @Ctx() ctx: GraphQLContext): Promise<AuditEvent[]> {
    return (await ctx.anomalies.triggeringEvents(requirePrincipal(ctx), anomaly.record)).map(AuditEvent.from);
  }

  @FieldResolver(() => AuditEvent, { nullable: true, description: 'Its anomaly.detected event, while the log holds it.' })
  async auditEvent(@Root() anomaly: Anomaly, @Ctx() ctx: GraphQLContext): Promise<AuditEvent | null> {
    const event = await ctx.anomalies.detectedEvent(requirePrincipal(ctx), anomaly.record);
    return event && AuditEvent.from(event);
  }
}
