import { useMutation, useQuery } from '@urql/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ConsoleNotificationDeliveriesDocument, ConsoleRetryNotificationDeliveryDocument } from '../gql/graphql';
import type { ConsoleNotificationDeliveryFragment } from '../gql/graphql';
import { sortErrors } from '../forms/field-errors';
import { DataTable } from '../ui/data-table';
import { Empty, FormErrors, LoadError, Loading, StatusMessage } from '../ui/messages';
import { Pager, useCursorPages } from '../ui/pager';
import { Time } from '../ui/time';
import { DeliveryStatusBadge, DeliverySubject } from './delivery-labels';
import type { DeliveryFilter } from './notifications-url';

const PAGE_SIZE = 50;
/** While a shown delivery is pending, the list is read again this often: its row moves on to delivered or dead by itself. */
const PENDING_REFRESH_MS = 3000;

const COLUMNS = ['Created', 'Sink', 'Event', 'Subject', 'Status', 'Attempts', 'Last error', 'Next try', { label: 'Actions', hidden: true }];

export function DeliveryList({ filter }: { filter: DeliveryFilter }) {
  const pages = useCursorPages();
  const [result, reload] = useQuery({ query: ConsoleNotificationDeliveriesDocument, variables: { ...filter, first: PAGE_SIZE, after: pages.after }, requestPolicy: 'cache-and-network' });
  const [retried, retry] = useMutation(ConsoleRetryNotificationDeliveryDocument);
  const [message, setMessage] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const page = result.data?.notificationDeliveries;
  const pending = page?.items.some((delivery) => delivery.status === 'PENDING') ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => reload({ requestPolicy: 'network-only' }), PENDING_REFRESH_MS);
    return () => clearInterval(timer);
  }, [pending, reload]);

  const retryDelivery = async (delivery: ConsoleNotificationDeliveryFragment) => {
    setMessage('');
    // The mutation returns a NotificationDelivery: urql's document cache then reads this list (and the counts) again.
    const answer = await retry({ id: delivery.id });
    if (!answer.data) return;
    setMessage(`Retrying ${delivery.id}: it is tried again now, with a fresh count of attempts. The audit log records the retry.`);
    // Its Retry button goes with its dead status: keep keyboard focus in the list rather than losing it to the document.
    heading.current?.focus();
  };
  const title = filter.status === 'DEAD' ? 'Dead letters' : 'Notification deliveries';
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title" ref={heading} tabIndex={-1}>{filter.sink ? `${title} of ${filter.sink}` : title}</h2>
      <StatusMessage message={message} />
      <FormErrors messages={sortErrors(retried.error, []).form} />
      {result.error ? (
        <LoadError error={result.error} what="notification deliveries" />
      ) : !page ? (
        <Loading what="notification deliveries" />
      ) : page.items.length === 0 ? (
        <Empty>{filter.status === 'DEAD' ? 'No dead letter: every notification was delivered or is still being tried.' : 'No notification delivery matches (with no sink configured, there are none).'}</Empty>
      ) : (
        <DataTable caption={`${title}, newest first`} columns={COLUMNS}>
          {page.items.map((delivery) => (
            <tr key={delivery.id}>
              <td>
                <Time iso={delivery.createdAt} />
              </td>
              <td>{delivery.sink}</td>
              <td>{delivery.eventType}</td>
              <td class="cell-text">
                <DeliverySubject delivery={delivery} />
              </td>
              <td>
                <DeliveryStatusBadge status={delivery.status} />
              </td>
              <td>{delivery.attempts}</td>
              <td>{delivery.lastError ?? '—'}</td>
              <td>{delivery.status === 'PENDING' ? <Time iso={delivery.dueAt} /> : '—'}</td>
              <td>
                {delivery.status === 'DEAD' && (
                  <button type="button" class="button-secondary" aria-label={`Retry ${delivery.id}`} disabled={retried.fetching} onClick={() => retryDelivery(delivery)}>
                    Retry
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager label="Delivery pages" things="deliveries" pages={pages} pageInfo={page?.pageInfo} />
    </section>
  );
}
