import type { NotificationDeliveryStatus } from '../gql/graphql';

/** The page's filters, as the URL holds them (`?status=dead&sink=ops`): a link to the dead letters of a sink can be shared. */
export interface DeliveryFilter {
  status?: NotificationDeliveryStatus;
  sink?: string;
}

const STATUSES: readonly NotificationDeliveryStatus[] = ['DEAD', 'PENDING', 'DELIVERED'];

export function parseDeliveryFilter(query: Record<string, string>): DeliveryFilter {
  const status = STATUSES.find((s) => s.toLowerCase() === query.status);
  return { ...(status ? { status } : {}), ...(query.sink ? { sink: query.sink } : {}) };
}

export function deliveryFilterPath(filter: DeliveryFilter): string {
  const params = new URLSearchParams();
  if (filter.status) params.set('status', filter.status.toLowerCase());
  if (filter.sink) params.set('sink', filter.sink);
  const search = params.toString();
  return search ? `/notifications?${search}` : '/notifications';
}
