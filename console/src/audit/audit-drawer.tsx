import { useQuery } from '@urql/preact';
import { AuditEventGrantDocument } from '../gql/graphql';
import { formatSpan, formatUtcTime } from '../format/time-format';
import { GrantScope } from '../access/grants-table';
import { GrantStatusBadge } from '../access/request-status';
import { Dialog } from '../ui/dialog';
import { Time } from '../ui/time';
import { LoadError, Loading } from '../ui/messages';
import type { AuditRow } from './audit-table';
import { auditQueryToSearch } from './audit-url';

/** The grant an allowed request names in its data (the broker records `grantId`). */
function grantIdOf(data: unknown): string | undefined {
  const id = (data as { grantId?: unknown } | null)?.grantId;
  return typeof id === 'string' ? id : undefined;
}

/** One event in full: its data as stored (redacted by the broker), its grant and request, its chain hashes. */
export function AuditDrawer({ event, onClose }: { event: AuditRow; onClose: () => void }) {
  const grantId = grantIdOf(event.data);
  return (
    <Dialog title={`Audit event ${event.type}`} onClose={onClose} wide>
      <dl class="details">
        <dt>Time</dt>
        <dd>
          <Time iso={event.time} /> ({formatUtcTime(event.time)})
        </dd>
        <dt>Type</dt>
        <dd>
          <code>{event.type}</code>
        </dd>
        <dt>Outcome</dt>
        <dd>{event.outcome.toLowerCase()}</dd>
        <dt>Actor</dt>
        <dd>{event.actor ?? 'system'}</dd>
        {event.server && (
          <>
            <dt>Server</dt>
            <dd>{event.server}</dd>
          </>
        )}
        {event.tool && (
          <>
            <dt>Tool</dt>
            <dd>
              <code>{event.tool}</code>
            </dd>
          </>
        )}
        {event.sessionId && (
          <>
            <dt>Session</dt>
            <dd>
              <code>{event.sessionId}</code> <a href={`/audit${auditQueryToSearch({ order: 'OLDEST_FIRST', session: event.sessionId })}`}>All events of this session</a>
            </dd>
          </>
        )}
        <dt>Cursor</dt>
        <dd>
          <code>{event.id}</code>
        </dd>
        <dt>Hash</dt>
        <dd>
          <code class="hash">{event.hash}</code>
        </dd>
        <dt>Previous hash</dt>
        <dd>
          <code class="hash">{event.prevHash}</code>
        </dd>
      </dl>
      <section aria-labelledby="event-data-title">
        <h3 id="event-data-title">Data (as stored)</h3>
        <pre class="json" tabIndex={0} aria-labelledby="event-data-title">
          {JSON.stringify(event.data, null, 2)}
        </pre>
      </section>
      <section aria-labelledby="event-grant-title">
        <h3 id="event-grant-title">Grant and request</h3>
        {grantId ? <GrantDetails id={grantId} /> : <p class="muted">No grant is recorded for this event.</p>}
      </section>
    </Dialog>
  );
}

function GrantDetails({ id }: { id: string }) {
  const [result] = useQuery({ query: AuditEventGrantDocument, variables: { id } });
  if (result.error) return <LoadError error={result.error} what="the grant" />;
  if (!result.data) return <Loading what="the grant" />;
  const grant = result.data.grant;
  if (!grant) return <p>Grant <code>{id}</code> is not visible to you (or no longer exists).</p>;
  const request = grant.request;
  return (
    <dl class="details">
      <dt>Grant</dt>
      <dd>
        <code>{grant.id}</code> <GrantStatusBadge status={grant.status} />
      </dd>
      <dt>Holder</dt>
      <dd>{grant.user.email}</dd>
      <dt>Covers</dt>
      <dd>
        <GrantScope grant={grant} />
      </dd>
      <dt>Valid</dt>
      <dd>
        <Time iso={grant.issuedAt} /> to <Time iso={grant.expiresAt} />
        {grant.revokedAt && (
          <>
            {' '}
            (revoked <Time iso={grant.revokedAt} />
            {grant.revokeReason ? `: “${grant.revokeReason}”` : ''})
          </>
        )}
      </dd>
      {!request && (
        <>
          <dt>Request</dt>
          <dd>Not visible to you.</dd>
        </>
      )}
      {request && (
        <>
          <dt>Requested by</dt>
          <dd>
            {request.requester.email}, <Time iso={request.createdAt} />, for {formatSpan(request.durationSeconds)}
          </dd>
          <dt>Reason</dt>
          <dd class="cell-text">{request.reason}</dd>
          <dt>Reviews</dt>
          <dd>
            {request.reviews.length === 0
              ? 'Approved by a rule (no reviewer)'
              : request.reviews.map((review) => (
                  <div key={review.createdAt}>
                    {review.decision === 'APPROVE' ? 'Approved' : 'Denied'} by {review.reviewer.email}, <Time iso={review.createdAt} />
                    {review.reason ? `: “${review.reason}”` : ''}
                  </div>
                ))}
          </dd>
        </>
      )}
    </dl>
  );
}
