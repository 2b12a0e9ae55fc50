import type { AccessRequestStatus, GrantStatus } from '../gql/graphql';

const REQUEST_LABELS: Record<AccessRequestStatus, string> = {
  PENDING: 'Pending review',
  APPROVED: 'Approved',
  DENIED: 'Denied',
  CANCELLED: 'Cancelled',
  EXPIRED: 'Expired unreviewed',
};

const GRANT_LABELS: Record<GrantStatus, string> = { ACTIVE: 'Active', EXPIRED: 'Expired', REVOKED: 'Revoked' };

/** A state as a word and a colour (never colour alone). */
export function RequestStatus({ status }: { status: AccessRequestStatus }) {
  return <span class={`status status-${status.toLowerCase()}`}>{REQUEST_LABELS[status]}</span>;
}

export function GrantStatusBadge({ status }: { status: GrantStatus }) {
  return <span class={`status status-${status.toLowerCase()}`}>{GRANT_LABELS[status]}</span>;
}
