/**
 * Audit events in OCSF 1.1 (Open Cybersecurity Schema Framework), as SIEMs ingest them:
 * sign-ins and sign-outs as Authentication (class 3002), everything else as API Activity
 * (class 6003). The Portcullis event itself rides along in `unmapped.portcullis`, so no
 * detail (hash chain included) is lost. docs/audit.md shows one example per event type.
 */
export interface WireAuditEvent {
  id: string;
  type: string;
  time: string;
  outcome: 'SUCCESS' | 'DENIED' | 'ERROR';
  actor: string | null;
  server: string | null;
  tool: string | null;
  sessionId: string | null;
  data: Record<string, unknown>;
  hash: string;
  prevHash?: string;
}

const AUTHENTICATION = 3002;
const API_ACTIVITY = 6003;

/** API Activity activity_id: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other. */
const API_ACTIVITY_ID: Record<string, number> = {
  'auth.token.created': 1,
  'auth.token.revoked': 4,
  'access_request.created': 1,
  'access_request.reviewed': 3,
  'access_request.cancelled': 3,
  'access_request.expired': 3,
  'grant.issued': 1,
  'grant.revoked': 4,
  'grant.expired': 4,
  'oauth.client.registered': 1,
  'oauth.consent.granted': 1,
  'oauth.consent.denied': 99,
  'oauth.token.issued': 1,
  'oauth.token.refreshed': 3,
  'oauth.token.revoked': 4,
  'oauth.token.refused': 99,
  'mcp.session.start': 1,
  'mcp.session.end': 4,
  'mcp.session.grant_added': 3,
  'mcp.request': 99,
  'mcp.notification': 99,
  'mcp.server_request': 99,
  'mcp.tool.changed': 3,
  'mcp.tool.accepted': 3,
  'mcp.response': 99,
  'mcp.session.refused': 99,
  'anomaly.detected': 1,
  'anomaly.response': 99,
  'anomaly.acknowledged': 3,
  'anomaly.suppressed': 1,
  'anomaly.unsuppressed': 4,
  'audit.checkpoint': 99,
};

export function toOcsf(event: WireAuditEvent): Record<string, unknown> {
  const auth = event.type === 'auth.login' || event.type === 'auth.logout';
  const classUid = auth ? AUTHENTICATION : API_ACTIVITY;
  const activityId = auth ? (event.type === 'auth.login' ? 1 : 2) : (API_ACTIVITY_ID[event.type] ?? 99);
  const success = event.outcome === 'SUCCESS';
  const user = event.actor === null ? undefined : { email_addr: event.actor, name: event.actor };
  return {
    class_uid: classUid,
    class_name: auth ? 'Authentication' : 'API Activity',
    category_uid: auth ? 3 : 6,
    category_name: auth ? 'Identity & Access Management' : 'Application Activity',
    activity_id: activityId,
    type_uid: classUid * 100 + activityId,
    time: Date.parse(event.time),
    severity_id: event.outcome === 'DENIED' ? 3 : event.outcome === 'ERROR' ? 4 : 1,
    status_id: success ? 1 : 2,
    status: event.outcome,
    message: event.type,
    metadata: { version: '1.1.0', uid: event.id, original_time: event.time, product: { name: 'Portcullis', vendor_name: 'Portcullis' } },
    ...(auth
      ? { user, auth_protocol_id: 5, auth_protocol: 'SAML', ...(typeof event.data.reason === 'string' ? { status_detail: event.data.reason } : {}) }
      : {
          actor: user ? { user } : { app_name: 'portcullis' },
          api: { operation: typeof event.data.method === 'string' ? event.data.method : event.type, service: { name: event.server ?? 'portcullis' } },
          resources: [
            ...(event.server ? [{ type: 'mcp_server', name: event.server }] : []),
            ...(event.tool ? [{ type: 'mcp_tool', name: event.tool }] : []),
          ],
          ...(event.sessionId ? { session: { uid: event.sessionId } } : {}),
        }),
    unmapped: { portcullis: event },
  };
}
