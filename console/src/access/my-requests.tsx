import { useMutation } from '@urql/preact';
import { useCallback } from 'preact/hooks';
import { ConsoleCancelRequestDocument } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { sortErrors } from '../forms/field-errors';
import { useViewer } from '../shell/viewer';
import { DataTable } from '../ui/data-table';
import { Time } from '../ui/time';
import { Empty, FormErrors, LoadError, Loading } from '../ui/messages';
import { useLiveRequests } from './live-access';
import type { Request } from './live-access';
import { describePatterns } from './pattern-list';
import { RequestStatus } from './request-status';

/** My requests, their state changing live; a pending one can be cancelled. */
export function MyRequests() {
  const viewer = useViewer();
  const belongs = useCallback((r: Request) => r.requester.id === viewer.user.id, [viewer.user.id]);
  const { items, loaded, error } = useLiveRequests({ mine: true }, belongs);
  const [cancelled, cancel] = useMutation(ConsoleCancelRequestDocument);
  if (error) return <LoadError error={error} what="your requests" />;
  if (!loaded) return <Loading what="your requests" />;
  if (items.length === 0) return <Empty>You have not requested access yet. Pick a server above to ask for some.</Empty>;
  return (
    <>
      <FormErrors messages={sortErrors(cancelled.error, []).form} />
      <DataTable caption="My requests (updated live)" columns={['Server', 'Tools', 'Duration', 'State', 'Requested', 'Reason', { label: 'Actions', hidden: true }]}>
        {items.map((request) => (
          <RequestRow key={request.id} request={request} onCancel={() => cancel({ id: request.id })} busy={cancelled.fetching} />
        ))}
      </DataTable>
    </>
  );
}

function RequestRow({ request, onCancel, busy }: { request: Request; onCancel: () => void; busy: boolean }) {
  const decision = request.reviews.at(-1);
  return (
    <tr>
      <th scope="row">{request.server}</th>
      <td>{describePatterns(request.tools, 'every tool you may request')}{request.readOnly && <span class="badge badge-safe">read-only</span>}</td>
      <td>{formatSpan(request.durationSeconds)}</td>
      <td>
        <RequestStatus status={request.status} />
        {decision?.reason && request.status !== 'PENDING' && <div class="muted">“{decision.reason}” ({decision.reviewer.email})</div>}
      </td>
      <td>
        <Time iso={request.createdAt} />
      </td>
      <td class="cell-text">{request.reason}</td>
      <td>
        {request.status === 'PENDING' && (
          <button type="button" class="button-secondary" onClick={onCancel} disabled={busy}>
            Cancel request<span class="visually-hidden"> for {request.server}</span>
          </button>
        )}
      </td>
    </tr>
  );
}
