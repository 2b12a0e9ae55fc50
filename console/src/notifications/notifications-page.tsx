import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { ConsoleNotificationSinksDocument } from '../gql/graphql';
import type { NotificationDeliveryStatus } from '../gql/graphql';
import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { DeliveryList } from './delivery-list';
import { deliveryFilterPath, parseDeliveryFilter } from './notifications-url';
import type { DeliveryFilter } from './notifications-url';

/** Dead letters first: they are what needs a person. */
const STATUS_FILTERS: [NotificationDeliveryStatus, string][] = [
  ['DEAD', 'Dead letters'],
  ['PENDING', 'Pending'],
  ['DELIVERED', 'Delivered'],
];

/** Retries change counts the list's own query does not return: refetch them when a delivery changes. */
export const SINKS_CONTEXT = { additionalTypenames: ['NotificationDelivery'] };

/** `/notifications` (auditors): the outbox newest first, filtered by status and sink (from the URL), with a retry for dead letters. */
export function NotificationsPage() {
  const viewer = useViewer();
  const location = useLocation();
  const filter = parseDeliveryFilter(location.query);
  return (
    <Page title="Notifications" intro="What Portcullis owes each notification sink (webhook, Slack, email): delivered, still being tried, or given up on (a dead letter, which you can retry once the receiver is fixed).">
      {viewer.readsAllAudit ? (
        <>
          <DeliveryFilters key={deliveryFilterPath(filter)} filter={filter} onApply={(next) => location.route(deliveryFilterPath(next))} />
          <DeliveryList key={deliveryFilterPath(filter)} filter={filter} />
        </>
      ) : (
        <p class="notice notice-warning">Only auditors see notification deliveries.</p>
      )}
    </Page>
  );
}

/** Applied when submitted, like the audit filters; the page puts them in the URL. */
function DeliveryFilters(props: { filter: DeliveryFilter; onApply: (filter: DeliveryFilter) => void }) {
  const [status, setStatus] = useState<string>(props.filter.status ?? '');
  const [sink, setSink] = useState(props.filter.sink ?? '');
  const [sinks] = useQuery({ query: ConsoleNotificationSinksDocument, context: SINKS_CONTEXT });
  const known = sinks.data?.notificationSinks ?? [];
  const apply = (event: Event) => {
    event.preventDefault();
    props.onApply({ ...(status ? { status: status as NotificationDeliveryStatus } : {}), ...(sink ? { sink } : {}) });
  };
  return (
    <form class="filters" onSubmit={apply} aria-label="Delivery filters">
      <div class="filters-grid">
        <div class="field">
          <label for="delivery-status">Status</label>
          <select id="delivery-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">Any status</option>
            {STATUS_FILTERS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="delivery-sink">Sink</label>
          <select id="delivery-sink" value={sink} onChange={(e) => setSink(e.currentTarget.value)}>
            <option value="">Any sink</option>
            {known.map((s) => (
              <option key={s.name} value={s.name}>
                {s.dead > 0 ? `${s.name} (${s.dead} dead)` : s.name}
              </option>
            ))}
            {sink && !known.some((s) => s.name === sink) && <option value={sink}>{sink}</option>}
          </select>
        </div>
      </div>
      <div class="actions">
        <button type="submit">Apply filters</button>
        <button type="button" class="button-secondary" onClick={() => props.onApply({ status: 'DEAD' })}>
          Dead letters
        </button>
        <button type="button" class="button-secondary" onClick={() => props.onApply({})}>
          Clear filters
        </button>
      </div>
    </form>
  );
}
