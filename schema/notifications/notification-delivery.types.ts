import { Field, GraphQLISODateTime, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { OutboxEntry } from '../../server/stores/types.js';
import { PageInfo } from '../common/page-info.js';

export enum NotificationDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  DEAD = 'DEAD',
}
registerEnumType(NotificationDeliveryStatus, { name: 'NotificationDeliveryStatus', description: 'PENDING until delivered; DEAD after maxAttempts or a refusal (a dead letter: retryNotificationDelivery requeues it).' });

@ObjectType({ description: 'The access request a notification is about, as the message names it.' })
export class NotifiedRequest {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The requester’s email.' })
  requester!: string;

  @Field(() => String)
  server!: string;
}

@ObjectType({ description: 'The anomaly a notification is about, as the message names it.' })
export class NotifiedAnomaly {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  rule!: string;

  @Field(() => String, { description: 'As the detector spells it (low, medium, high, critical).' })
  severity!: string;

  @Field(() => String, { description: 'The user whose activity raised it.' })
  user!: string;
}

@ObjectType({ description: 'One notification owed to one sink for one audit event (docs/notifications.md). Auditors only.' })
export class NotificationDelivery {
  @Field(() => ID, { description: '`<sink>:<audit event id>`: the id the receiver sees (Portcullis-Delivery), the same on every try.' })
  id!: string;

  @Field(() => String)
  sink!: string;

  @Field(() => String, { description: 'The audit event type.' })
  eventType!: string;

  @Field(() => ID, { description: 'The audit event (its cursor).' })
  eventId!: string;

  @Field(() => NotifiedRequest, { nullable: true, description: 'For access_request.* events: the request.' })
  request!: NotifiedRequest | null;

  @Field(() => NotifiedAnomaly, { nullable: true, description: 'For anomaly.* events: the anomaly.' })
  anomaly!: NotifiedAnomaly | null;

  @Field(() => NotificationDeliveryStatus)
  status!: NotificationDeliveryStatus;

  @Field(() => Int, { description: 'Tries made so far.' })
  attempts!: number;

  @Field(() => String, { nullable: true, description: 'The last failure in fixed words or a status code (never the receiver’s answer).' })
  lastError!: string | null;

  @Field(() => GraphQLISODateTime, { description: 'When the next try is due (PENDING).' })
  dueAt!: Date;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime)
  updatedAt!: Date;

  static from(entry: OutboxEntry): NotificationDelivery {
    return Object.assign(new NotificationDelivery(), {
      id: entry.id,
      sink: entry.sink,
      eventType: entry.event.type,
      eventId: entry.event.id,
      request: entry.event.request ? { id: entry.event.request.id, requester: entry.event.request.requester, server: entry.event.request.server } : null,
      anomaly: entry.event.anomaly ? { id: entry.event.anomaly.id, rule: entry.event.anomaly.rule, severity: entry.event.anomaly.severity, user: entry.event.anomaly.user } : null,
      status: entry.status as NotificationDeliveryStatus,
      attempts: entry.attempts,
      lastError: entry.lastError,
      dueAt: new Date(entry.dueAt),
      createdAt: new Date(entry.createdAt),
      updatedAt: new Date(entry.updatedAt),
    });
  }
}

@ObjectType()
export class NotificationDeliveryPage {
  @Field(() => [NotificationDelivery])
  items!: NotificationDelivery[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType({ description: 'A notification sink and what it owes: the configured sinks, and any other whose deliveries are still kept.' })
export class NotificationSinkSummary {
  @Field(() => String)
  name!: string;

  @Field(() => Int, { description: 'Its dead letters (status DEAD).' })
  dead!: number;

  @Field(() => Int, { description: 'Its deliveries not made yet (status PENDING).' })
  pending!: number;
}
