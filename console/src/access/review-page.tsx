import { useCallback, useState } from 'preact/hooks';
import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { Empty, LoadError, Loading, StatusMessage } from '../ui/messages';
import { useLiveRequests } from './live-access';
import type { Request } from './live-access';
import { ReviewCard } from './review-card';
import { ToolChanges } from './tool-changes';

/** Pending requests this viewer may review now; never their own (the API refuses it too). */
export function useReviewQueue() {
  const viewer = useViewer();
  const belongs = useCallback((r: Request) => r.status === 'PENDING' && r.viewerCanReview && r.requester.id !== viewer.user.id, [viewer.user.id]);
  return useLiveRequests({ status: 'PENDING' }, belongs);
}

/** `/review`: the queue, live without reload. */
export function ReviewPage() {
  const { items, loaded, error } = useReviewQueue();
  const [message, setMessage] = useState('');
  return (
    <Page title="Review requests" intro="Requests waiting for your decision, newest first (new ones appear as they are filed), and tools whose server changed their definition.">
      <StatusMessage message={message} />
      <ToolChanges onAccepted={setMessage} />
      {error ? (
        <LoadError error={error} what="the review queue" />
      ) : !loaded ? (
        <Loading what="the review queue" />
      ) : (
        <>
          <p role="status" class="queue-count">
            {items.length === 0 ? 'No request waits for your review.' : `${items.length} ${items.length === 1 ? 'request waits' : 'requests wait'} for your review.`}
          </p>
          {items.length === 0 ? (
            <Empty>New requests you may review will appear here without reloading the page.</Empty>
          ) : (
            <ul class="cards">
              {items.map((request) => (
                <li key={request.id}>
                  <ReviewCard request={request} onDecided={setMessage} />
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Page>
  );
}
