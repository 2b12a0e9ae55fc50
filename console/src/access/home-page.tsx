import { useCallback } from 'preact/hooks';
import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { Age, Time, TimeLeft } from '../ui/time';
import { Empty, LoadError, Loading } from '../ui/messages';
import { useLiveGrants, useLiveRequests } from './live-access';
import type { Request } from './live-access';
import { describePatterns } from './pattern-list';
import { useReviewQueue } from './review-page';

/** `/`: what needs my attention: my pending requests, my active grants, the review queue. */
export function HomePage() {
  const viewer = useViewer();
  return (
    <Page title="Overview" intro={`Signed in as ${viewer.user.email}.`}>
      {viewer.signInExpiresAt && (
        <p class="muted">
          Your sign-in ends <Time iso={viewer.signInExpiresAt} />.
        </p>
      )}
      <div class="overview">
        <section aria-labelledby="pending-title" class="panel">
          <h2 id="pending-title">My pending requests</h2>
          <PendingRequests />
          <p>
            <a href="/requests">Request access</a>
          </p>
        </section>
        <section aria-labelledby="active-title" class="panel">
          <h2 id="active-title">My active grants</h2>
          <MyActiveGrants />
          <p>
            <a href="/grants">All grants</a> · <a href="/connect">Connect an MCP client</a>
          </p>
        </section>
        {viewer.reviewer && (
          <section aria-labelledby="queue-title" class="panel">
            <h2 id="queue-title">Review queue</h2>
            <QueueCount />
          </section>
        )}
      </div>
    </Page>
  );
}

function PendingRequests() {
  const viewer = useViewer();
  const belongs = useCallback((r: Request) => r.status === 'PENDING' && r.requester.id === viewer.user.id, [viewer.user.id]);
  const { items, loaded, error } = useLiveRequests({ mine: true, status: 'PENDING' }, belongs);
  if (error) return <LoadError error={error} what="your requests" />;
  if (!loaded) return <Loading what="your requests" />;
  if (items.length === 0) return <Empty>Nothing pending.</Empty>;
  return (
    <ul class="plain-list">
      {items.map((r) => (
        <li key={r.id}>
          <strong>{r.server}</strong>: {describePatterns(r.tools, 'every tool you may request')} (<Age since={r.createdAt} />)
        </li>
      ))}
    </ul>
  );
}

function MyActiveGrants() {
  const viewer = useViewer();
  const { items, loaded, error } = useLiveGrants(true);
  if (error) return <LoadError error={error} what="your grants" />;
  if (!loaded) return <Loading what="your grants" />;
  const mine = items.filter((g) => g.user.id === viewer.user.id);
  if (mine.length === 0) return <Empty>No active grant.</Empty>;
  return (
    <ul class="plain-list">
      {mine.map((g) => (
        <li key={g.id}>
          <strong>{g.server}</strong>: {describePatterns(g.tools, 'no tools')}, <TimeLeft expiresAt={g.expiresAt} />
        </li>
      ))}
    </ul>
  );
}

function QueueCount() {
  const { items, loaded, error } = useReviewQueue();
  if (error) return <LoadError error={error} what="the review queue" />;
  if (!loaded) return <Loading what="the review queue" />;
  return (
    <p>
      {items.length === 0 ? 'No request waits for your review.' : `${items.length} ${items.length === 1 ? 'request waits' : 'requests wait'} for your review.`}{' '}
      <a href="/review">Open the review queue</a>
    </p>
  );
}
