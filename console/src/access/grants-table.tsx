import { useState } from 'preact/hooks';
import { useViewer } from '../shell/viewer';
import { auditQueryToSearch } from '../audit/audit-url';
import { DataTable } from '../ui/data-table';
import { Time, TimeLeft } from '../ui/time';
import { Empty, LoadError, Loading, StatusMessage } from '../ui/messages';
import { useLiveGrants } from './live-access';
import type { Grant } from './live-access';
import { describePatterns } from './pattern-list';
import { GrantStatusBadge } from './request-status';
import { RevokeDialog } from './revoke-dialog';

/** What a grant covers, in one line. */
export function GrantScope({ grant }: { grant: Grant }) {
  return (
    <>
      {describePatterns(grant.tools, 'no tools')}
      {grant.resources.length > 0 && <div class="muted">Resources: {describePatterns(grant.resources)}</div>}
      {grant.prompts.length > 0 && <div class="muted">Prompts: {describePatterns(grant.prompts)}</div>}
      {grant.readOnly && <span class="badge badge-safe">read-only</span>}
    </>
  );
}

/** Active grants with time left (ticking) and a revoke button; live. */
export function ActiveGrants({ caption }: { caption: string }) {
  const viewer = useViewer();
  const { items, loaded, error } = useLiveGrants(true);
  const [revoking, setRevoking] = useState<Grant | null>(null);
  const [message, setMessage] = useState('');
  if (error) return <LoadError error={error} what="grants" />;
  if (!loaded) return <Loading what="grants" />;
  const others = items.some((g) => g.user.id !== viewer.user.id);
  return (
    <>
      <StatusMessage message={message} />
      {items.length === 0 ? (
        <Empty>No active grants. Request access to a server to get one.</Empty>
      ) : (
        <DataTable caption={caption} columns={['Server', ...(others ? ['Holder'] : []), 'Covers', 'Issued', 'Time left', { label: 'Actions', hidden: true }]}>
          {items.map((grant) => (
            <tr key={grant.id}>
              <th scope="row">{grant.server}</th>
              {others && <td>{grant.user.email}</td>}
              <td>
                <GrantScope grant={grant} />
              </td>
              <td>
                <Time iso={grant.issuedAt} />
              </td>
              <td>
                <TimeLeft expiresAt={grant.expiresAt} />
              </td>
              <td>
                <div class="row-actions">
                  <a href={`/audit${auditQueryToSearch({ order: 'NEWEST_FIRST', user: grant.user.email, server: grant.server })}`}>
                    Audit events<span class="visually-hidden"> of {grant.user.email} on {grant.server}</span>
                  </a>
                  <button type="button" class="button-danger" onClick={() => setRevoking(grant)}>
                    Revoke<span class="visually-hidden"> the grant on {grant.server}{others ? ` held by ${grant.user.email}` : ''}</span>
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {revoking && (
        <RevokeDialog
          grant={revoking}
          onClose={(done) => {
            setRevoking(null);
            if (done) setMessage(done);
          }}
        />
      )}
    </>
  );
}

/** Grants that ended (expired or revoked), newest first. */
export function EndedGrants() {
  const { items, loaded, error } = useLiveGrants(false);
  if (error) return <LoadError error={error} what="ended grants" />;
  if (!loaded) return <Loading what="ended grants" />;
  if (items.length === 0) return <Empty>No grant has ended yet.</Empty>;
  return (
    <DataTable caption="Ended grants" columns={['Server', 'Holder', 'Covers', 'State', 'Ended']}>
      {items.map((grant) => (
        <tr key={grant.id}>
          <th scope="row">{grant.server}</th>
          <td>{grant.user.email}</td>
          <td>
            <GrantScope grant={grant} />
          </td>
          <td>
            <GrantStatusBadge status={grant.status} />
            {grant.revokeReason && <div class="muted">“{grant.revokeReason}”</div>}
          </td>
          <td>
            <Time iso={grant.revokedAt ?? grant.expiresAt} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
