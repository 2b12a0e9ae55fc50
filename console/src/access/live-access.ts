import { useQuery, useSubscription } from '@urql/preact';
import { useCallback, useMemo } from 'preact/hooks';
import { ConsoleGrantChangedDocument, ConsoleGrantsDocument, ConsoleRequestChangedDocument, ConsoleRequestsDocument } from '../gql/graphql';
import type { AccessRequestStatus, ConsoleGrantFragment, ConsoleRequestFragment } from '../gql/graphql';
import { useRefetchOnReconnect } from '../graphql/connection-context';
import { mergeLive, newestFirst } from '../live/live-lists';

export type Request = ConsoleRequestFragment;
export type Grant = ConsoleGrantFragment;

const PAGE = 100;

/** States the subscription delivered (the merge picks the latest per item); the last thousand, so a long-open page stays small. */
function collect<T>(previous: T[] = [], item: T): T[] {
  return [...previous.slice(-999), item];
}

/**
 * Requests as the query found them, kept current by `accessRequestChanged`: those that
 * satisfy `belongs` (which must also hold for the query's own items), newest first.
 */
export function useLiveRequests(variables: { status?: AccessRequestStatus; mine?: boolean }, belongs: (request: Request) => boolean) {
  const [result, reexecute] = useQuery({ query: ConsoleRequestsDocument, variables: { ...variables, first: PAGE } });
  const [changes] = useSubscription({ query: ConsoleRequestChangedDocument }, (previous: Request[] | undefined, data) => collect(previous, data.accessRequestChanged));
  useRefetchOnReconnect(useCallback(() => reexecute({ requestPolicy: 'network-only' }), [reexecute]));
  const items = useMemo(
    () =>
      mergeLive(result.data?.accessRequests.items ?? [], changes.data ?? [], {
        belongs,
        compare: newestFirst('createdAt'),
        stage: (r) => (r.status === 'PENDING' ? 0 : 1),
      }),
    [result.data, changes.data, belongs],
  );
  return { items, loaded: result.data !== undefined, error: result.error, more: result.data?.accessRequests.pageInfo.hasNextPage ?? false };
}

/** Grants (active or ended) kept current by `grantChanged`, newest first. */
export function useLiveGrants(active: boolean) {
  const [result, reexecute] = useQuery({ query: ConsoleGrantsDocument, variables: { active, first: PAGE } });
  const [changes] = useSubscription({ query: ConsoleGrantChangedDocument }, (previous: Grant[] | undefined, data) => collect(previous, data.grantChanged));
  useRefetchOnReconnect(useCallback(() => reexecute({ requestPolicy: 'network-only' }), [reexecute]));
  const items = useMemo(
    () =>
      mergeLive(result.data?.grants.items ?? [], changes.data ?? [], {
        belongs: (g) => (g.status === 'ACTIVE') === active,
        compare: newestFirst('issuedAt'),
        stage: (g) => (g.status === 'ACTIVE' ? 0 : 1),
      }),
    [result.data, changes.data, active],
  );
  return { items, loaded: result.data !== undefined, error: result.error, more: result.data?.grants.pageInfo.hasNextPage ?? false };
}
