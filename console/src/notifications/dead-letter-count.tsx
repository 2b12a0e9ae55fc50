import { useQuery } from '@urql/preact';
import { ConsoleNotificationSinksDocument } from '../gql/graphql';
import { SINKS_CONTEXT } from './notifications-page';

/**
 * The dead letters of every sink, as a badge beside the Notifications link (auditors only:
 * nobody else may read the count). Nothing while there are none, or while it loads.
 */
export function DeadLetterCount() {
  const [result] = useQuery({ query: ConsoleNotificationSinksDocument, context: SINKS_CONTEXT });
  const dead = result.data?.notificationSinks.reduce((sum, sink) => sum + sink.dead, 0) ?? 0;
  if (dead === 0) return null;
  return (
    <span class="badge badge-danger">
      {dead}
      <span class="visually-hidden">{dead === 1 ? ' dead letter' : ' dead letters'}</span>
    </span>
  );
}
