/**
 * Audit events in OCSF 1.1 (Open Cybersecurity Schema Framework), as SIEMs ingest them:
 * sign-ins and sign-outs as Authentication (class 3002), anomalies the detector raised as
 * Detection Finding (class 2004), everything else as API Activity (class 6003). The
 * Portcullis event itself rides along in `unmapped.portcullis`, so no detail (hash chain
 * included) is lost. docs/ocsf-examples.md shows one example per event type.
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
  // A changed set of trusted keys: API Activity "Update".
  'auth.idp.keys_rotated': 3,
  'auth.sp.keys_rotated': 3,
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
  'anomaly.response': 99,
  'anomaly.acknowledged': 3,
  'anomaly.suppressed': 1,
  'anomaly.unsuppressed': 4,
  'audit.checkpoint': 99,
  'scim.user.created': 1,
  'scim.user.updated': 3,
  'scim.user.deactivated': 3,
  'scim.user.reactivated': 3,
  'scim.user.deleted': 4,
  'scim.group.created': 1,
  'scim.group.updated': 3,
  'scim.group.deleted': 4,
  'notification.retried': 3,
};

/** An event no person caused: an IdP's SCIM client (data.scimClient names the IdP), else Portcullis itself. */
function systemActor(event: WireAuditEvent): Record<string, unknown> {
  return typeof event.data.scimClient === 'string' ? { app_name: `SCIM client of ${event.data.scimClient}` } : { app_name: 'portcullis' };
}

/** Who wrote the event, and its place in the Portcullis log: the same on every class. */
function ocsfMetadata(event: WireAuditEvent): Record<string, unknown> {
  return { version: '1.1.0', uid: event.id, original_time: event.time, product: { name: 'Portcullis', vendor_name: 'Portcullis' } };
}

/** The MCP server and tool an event concerns, as OCSF resources. */
function ocsfResources(event: WireAuditEvent): Record<string, unknown>[] {
  return [...(event.server ? [{ type: 'mcp_server', name: event.server }] : []), ...(event.tool ? [{ type: 'mcp_tool', name: event.tool }] : [])];
}

export function toOcsf(event: WireAuditEvent): Record<string, unknown> {
  if (event.type === 'anomaly.detected') return detectionFinding(event);
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
    metadata: ocsfMetadata(event),
    ...(auth
      ? { user, auth_protocol_id: 5, auth_protocol: 'SAML', ...(typeof event.data.reason === 'string' ? { status_detail: event.data.reason } : {}) }
      : {
          actor: user ? { user } : systemActor(event),
          api: { operation: typeof event.data.method === 'string' ? event.data.method : event.type, service: { name: event.server ?? 'portcullis' } },
          resources: ocsfResources(event),
          ...(event.sessionId ? { session: { uid: event.sessionId } } : {}),
        }),
    unmapped: { portcullis: event },
  };
}

/** OCSF severity_id (base event: 2 Low, 3 Medium, 4 High, 5 Critical) of a detection's severity. */
const SEVERITY_ID: Record<string, number> = { low: 2, medium: 3, high: 4, critical: 5 };

/** analytic.type_id (1 Rule, 2 Behavioral, 3 Statistical) of each rule: how it judges. */
const ANALYTIC_TYPE: Record<string, [number, string]> = {
  first_use_by_user: [2, 'Behavioral'],
  first_use_by_role: [2, 'Behavioral'],
  off_hours: [2, 'Behavioral'],
  new_client: [2, 'Behavioral'],
  rate_spike: [3, 'Statistical'],
  large_payload: [3, 'Statistical'],
  probing: [1, 'Rule'],
  breadth: [1, 'Rule'],
};

const DETECTION_FINDING = 2004;
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * `anomaly.detected` as an OCSF 1.1 Detection Finding (class 2004, category 2 Findings,
 * activity 1 Create; events/findings/detection_finding.json at v1.1.0): finding_info
 * carries the anomaly id, the rule as its analytic and type, the summary, and the
 * triggering events as related_events (their uids are the audit cursors, which are the
 * metadata.uid of those events in this same feed). The person and session go in
 * evidences (the class has no actor), what was seen against its baseline in evidences' data.
 */
function detectionFinding(event: WireAuditEvent): Record<string, unknown> {
  const { data } = event;
  const rule = text(data.rule);
  const severity = text(data.severity);
  const user = text(data.user);
  const [analyticTypeId, analyticType] = ANALYTIC_TYPE[rule] ?? [99, 'Other'];
  const time = Date.parse(event.time);
  return {
    class_uid: DETECTION_FINDING,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: 1,
    activity_name: 'Create',
    type_uid: DETECTION_FINDING * 100 + 1,
    time,
    severity_id: SEVERITY_ID[severity] ?? 0,
    severity: severity.charAt(0).toUpperCase() + severity.slice(1),
    // The finding's own status (1 New): acknowledging it is a later event.
    status_id: 1,
    status: 'New',
    message: text(data.summary),
    metadata: ocsfMetadata(event),
    finding_info: {
      uid: text(data.anomalyId),
      title: `${rule} anomaly: ${user}`,
      desc: text(data.summary),
      types: [rule],
      created_time: time,
      analytic: { uid: rule, name: rule, type_id: analyticTypeId, type: analyticType },
      related_events: (Array.isArray(data.eventIds) ? data.eventIds : []).map((uid) => ({ uid: String(uid) })),
    },
    resources: ocsfResources(event),
    evidences: [{ actor: { user: { email_addr: user, name: user }, ...(event.sessionId ? { session: { uid: event.sessionId } } : {}) }, data: { score: data.score, observed: data.observed, baseline: data.baseline } }],
    unmapped: { portcullis: event },
  };
}
