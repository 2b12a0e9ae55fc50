import { Field, GraphQLISODateTime, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { OutboxEntry } from '../../server/stores/types.js';
import { PageInfo } from '../common/page-info.js';

export enum NotificationDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  DEAD = 'DEAD',
}
registerEnumType(NotificationDeliveryStatus, { name: 'NotificationDeliveryStatus', description: 'PENDING until delivered; DEAD after maxAttempts or a refusal (a dead letter: retryNotificationDelivery requeues it).' });

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
