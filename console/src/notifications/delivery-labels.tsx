import type { ConsoleNotificationDeliveryFragment, NotificationDeliveryStatus } from '../gql/graphql';
import { ruleLabel } from '../anomalies/anomaly-labels';

const STATUS_LABELS: Record<NotificationDeliveryStatus, string> = { DEAD: 'Dead letter', PENDING: 'Pending', DELIVERED: 'Delivered' };

/** A status as a word and a colour (never colour alone). */
export function DeliveryStatusBadge({ status }: { status: NotificationDeliveryStatus }) {
  return <span class={`status status-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}

/** What the notification is about: the request (who asked, for which server) or the anomaly (linked to its page). */
export function DeliverySubject({ delivery }: { delivery: ConsoleNotificationDeliveryFragment }) {
  const { request, anomaly } = delivery;
  if (request) return <>{`${request.requester} on ${request.server}`}</>;
  if (anomaly) return <a href={`/anomalies/${encodeURIComponent(anomaly.id)}`}>{`${ruleLabel(anomaly.rule)} (${anomaly.severity}) for ${anomaly.user}`}</a>;
  return <span class="muted">—</span>;
}
