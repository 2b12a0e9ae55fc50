import type { AuditEventType } from '../../server/audit/event-types.js';

/**
 * Audit events as OCSF 1.1.0 (Open Cybersecurity Schema Framework), as SIEMs and data
 * lakes ingest them. Every event is valid against the official schema at v1.1.0 (checked in
 * test/audit/ocsf-schema.test.ts against vendor/ocsf-schema, compiled from the schema
 * repository by scripts/compile-ocsf-schema.ts). Our event id is `metadata.uid`, the field
 * to de-duplicate on; the Portcullis event itself rides along in `unmapped.portcullis`, so
 * no detail (hash chain included) is lost. docs/ocsf-examples.md shows one example per type.
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

export const OCSF_VERSION = '1.1.0';

/** The classes Portcullis writes, by their schema names (what scripts/compile-ocsf-schema.ts compiles). */
export const OCSF_CLASS_NAMES = ['authentication', 'user_access', 'api_activity', 'detection_finding'] as const;
type OcsfClassName = (typeof OCSF_CLASS_NAMES)[number];

/** Each class's uid (category uid * 1000 + class uid), captions and the activities we use, as the schema names them. */
const CLASSES: Record<OcsfClassName, { uid: number; caption: string; category: [number, string]; activities: Record<number, string> }> = {
  authentication: { uid: 3002, caption: 'Authentication', category: [3, 'Identity & Access Management'], activities: { 1: 'Logon', 2: 'Logoff' } },
  user_access: { uid: 3005, caption: 'User Access Management', category: [3, 'Identity & Access Management'], activities: { 1: 'Assign Privileges', 2: 'Revoke Privileges' } },
  api_activity: { uid: 6003, caption: 'API Activity', category: [6, 'Application Activity'], activities: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' } },
  detection_finding: { uid: 2004, caption: 'Detection Finding', category: [2, 'Findings'], activities: { 1: 'Create' } },
};

/** Activity 99 (Other): the class has none that fits, activity_name says what it was (the event type). */
const OTHER = 99;

/** The class and activity of every audit event type (a type missing here fails to compile). docs/audit.md has this table. */
const OCSF_MAPPING: Record<AuditEventType, [OcsfClassName, number]> = {
  'auth.login': ['authentication', 1],
  'auth.logout': ['authentication', 2],
  'auth.token.created': ['api_activity', 1],
  'auth.token.revoked': ['api_activity', 4],
  // A changed set of trusted keys: an update.
  'auth.idp.keys_rotated': ['api_activity', 3],
  'auth.sp.keys_rotated': ['api_activity', 3],
  'access_request.created': ['api_activity', 1],
  'access_request.reviewed': ['api_activity', 3],
  // An update that was refused (status Failure): still the attempted activity.
  'access_request.review_refused': ['api_activity', 3],
  'access_request.cancelled': ['api_activity', 3],
  'access_request.expired': ['api_activity', 3],
  'grant.issued': ['user_access', 1],
  'grant.revoked': ['user_access', 2],
  'grant.expired': ['user_access', 2],
  'oauth.client.registered': ['api_activity', 1],
  'oauth.consent.granted': ['api_activity', 1],
  'oauth.consent.denied': ['api_activity', OTHER],
  'oauth.token.issued': ['api_activity', 1],
  'oauth.token.refreshed': ['api_activity', 3],
  'oauth.token.revoked': ['api_activity', 4],
  'oauth.token.refused': ['api_activity', OTHER],
  'mcp.session.start': ['api_activity', 1],
  'mcp.session.end': ['api_activity', 4],
  'mcp.session.grant_added': ['api_activity', 3],
  'mcp.request': ['api_activity', OTHER],
  'mcp.notification': ['api_activity', OTHER],
  'mcp.server_request': ['api_activity', OTHER],
  'mcp.tool.changed': ['api_activity', 3],
  'mcp.tool.accepted': ['api_activity', 3],
  'mcp.response': ['api_activity', OTHER],
  'mcp.session.refused': ['api_activity', OTHER],
  'anomaly.detected': ['detection_finding', 1],
  'anomaly.response': ['api_activity', OTHER],
  'anomaly.acknowledged': ['api_activity', 3],
  'anomaly.suppressed': ['api_activity', 1],
  'anomaly.unsuppressed': ['api_activity', 4],
  'audit.checkpoint': ['api_activity', OTHER],
  'scim.user.created': ['api_activity', 1],
  'scim.user.updated': ['api_activity', 3],
  'scim.user.deactivated': ['api_activity', 3],
  'scim.user.reactivated': ['api_activity', 3],
  'scim.user.deleted': ['api_activity', 4],
  'scim.group.created': ['api_activity', 1],
  'scim.group.updated': ['api_activity', 3],
  'scim.group.deleted': ['api_activity', 4],
  'notification.retried': ['api_activity', 3],
};

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
/**
 * OCSF's email_t pattern (dictionary.json types at v1.1.0; test/audit/ocsf-schema.test.ts
 * holds it to the vendored schema's). Our addresses pass a looser check (an apostrophe, a
 * dotless domain), so email_addr is set only when the address fits; user.name always is.
 */
export const OCSF_EMAIL = /^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;
const user = (email: string): Record<string, unknown> => ({ name: email, ...(OCSF_EMAIL.test(email) ? { email_addr: email } : {}) });

/** severity_id and its caption of an outcome: a refusal is worth a look, an error more so. */
const SEVERITY: Record<WireAuditEvent['outcome'], [number, string]> = { SUCCESS: [1, 'Informational'], DENIED: [3, 'Medium'], ERROR: [4, 'High'] };

/** The attributes every class has: classification, time, severity, status and metadata. */
function baseEvent(event: WireAuditEvent, className: OcsfClassName, activityId: number, profiles: string[] = []): Record<string, unknown> {
  const { uid, caption, category, activities } = CLASSES[className];
  const activity = activities[activityId] ?? event.type;
  const [severityId, severity] = SEVERITY[event.outcome];
  const success = event.outcome === 'SUCCESS';
  return {
    class_uid: uid,
    class_name: caption,
    category_uid: category[0],
    category_name: category[1],
    activity_id: activityId,
    activity_name: activity,
    type_uid: uid * 100 + activityId,
    type_name: `${caption}: ${activityId === OTHER ? 'Other' : activity}`,
    time: Date.parse(event.time),
    severity_id: severityId,
    severity,
    status_id: success ? 1 : 2,
    status: success ? 'Success' : 'Failure',
    // Our own outcome (SUCCESS, DENIED, ERROR), which status_id folds into Success/Failure.
    status_code: event.outcome,
    ...(typeof event.data.reason === 'string' ? { status_detail: event.data.reason } : {}),
    message: event.type,
    metadata: {
      version: OCSF_VERSION,
      // Our audit event id (the feed cursor): what a SIEM de-duplicates on.
      uid: event.id,
      original_time: event.time,
      product: { name: 'Portcullis', vendor_name: 'Portcullis' },
      ...(profiles.length > 0 ? { profiles } : {}),
    },
  };
}

/** What acted on its own when no person did: an IdP's SCIM client (data.scimClient names the IdP), else Portcullis itself. */
function serviceName(event: WireAuditEvent): string {
  return typeof event.data.scimClient === 'string' ? `SCIM client of ${event.data.scimClient}` : 'Portcullis';
}

/**
 * The actor: the person, in their MCP session when there is one; else the service that
 * acted (OCSF 1.1 `actor.invoked_by`, "the name of the service that invoked the activity":
 * 1.1 has no app_name, and a process would need a pid or uid we do not have).
 */
function ocsfActor(event: WireAuditEvent): Record<string, unknown> {
  const session = event.sessionId ? { session: { uid: event.sessionId } } : {};
  return event.actor === null ? { invoked_by: serviceName(event), ...session } : { user: user(event.actor), ...session };
}

/**
 * Where the activity came from: the client address when the event recorded one (every
 * event a client's request caused does); a service acting on its own by its name; else
 * `unknown` (API Activity requires a source: events written before addresses were recorded).
 */
function srcEndpoint(event: WireAuditEvent): Record<string, unknown> {
  if (typeof event.data.clientAddress === 'string') return { ip: event.data.clientAddress };
  return event.actor === null ? { svc_name: serviceName(event) } : { name: 'unknown' };
}

/** The MCP server and tool an event concerns, as OCSF resources. */
function ocsfResources(event: WireAuditEvent): Record<string, unknown>[] {
  return [...(event.server ? [{ type: 'mcp_server', name: event.server }] : []), ...(event.tool ? [{ type: 'mcp_tool', name: event.tool }] : [])];
}

export function toOcsf(event: WireAuditEvent): Record<string, unknown> {
  return { ...ocsfClass(event), unmapped: { portcullis: event } };
}

/** The event in the class its type maps to; a type this build does not know is API Activity, Other. */
function ocsfClass(event: WireAuditEvent): Record<string, unknown> {
  const [className, activityId]: [OcsfClassName, number] = Object.hasOwn(OCSF_MAPPING, event.type) ? OCSF_MAPPING[event.type as AuditEventType] : ['api_activity', OTHER];
  switch (className) {
    case 'authentication':
      return authentication(event, activityId);
    case 'user_access':
      return userAccess(event, activityId);
    case 'detection_finding':
      return detectionFinding(event);
    case 'api_activity':
      return {
        ...baseEvent(event, 'api_activity', activityId),
        actor: ocsfActor(event),
        api: { operation: typeof event.data.method === 'string' ? event.data.method : event.type, service: { name: event.server ?? 'portcullis' } },
        src_endpoint: srcEndpoint(event),
        resources: ocsfResources(event),
      };
  }
}

/**
 * Sign-ins and sign-outs (class 3002). The class requires the user and one of service or
 * dst_endpoint: the user is who the IdP vouched for, or `unknown` for a refused sign-in
 * (a refusal records nothing the sender wrote); the service is Portcullis, the IdP the
 * user's domain. The protocol is named only when the event says which.
 */
function authentication(event: WireAuditEvent, activityId: number): Record<string, unknown> {
  const idp = text(event.data.idp);
  const protocol = event.data.protocol === 'oidc' ? { auth_protocol_id: 4, auth_protocol: 'OpenID' } : event.data.nameId !== undefined ? { auth_protocol_id: 5, auth_protocol: 'SAML' } : {};
  return {
    ...baseEvent(event, 'authentication', activityId),
    user: { ...(event.actor === null ? { name: 'unknown' } : user(event.actor)), ...(idp ? { domain: idp } : {}) },
    service: { name: 'Portcullis' },
    ...protocol,
    ...(typeof event.data.clientAddress === 'string' ? { src_endpoint: srcEndpoint(event) } : {}),
  };
}

/**
 * Grants (class 3005, Assign or Revoke Privileges): the user is the grantee, the resource
 * the MCP server, the privileges the grant (`grant:<id>`, on every event of one grant so a
 * SIEM can pair them) and, when the event lists them, what it allows (`tool:`,
 * `resource:`, `prompt:` patterns). The actor is a host-profile attribute in IAM classes,
 * hence metadata.profiles ["host"].
 */
function userAccess(event: WireAuditEvent, activityId: number): Record<string, unknown> {
  const { data } = event;
  const privileges = [`grant:${text(data.grantId)}`, ...strings(data.tools).map((t) => `tool:${t}`), ...strings(data.resources).map((r) => `resource:${r}`), ...strings(data.prompts).map((p) => `prompt:${p}`)];
  return {
    ...baseEvent(event, 'user_access', activityId, ['host']),
    actor: ocsfActor(event),
    user: user(text(data.user)),
    privileges,
    ...(event.server ? { resource: { type: 'mcp_server', name: event.server } } : {}),
  };
}

/** OCSF severity_id (2 Low, 3 Medium, 4 High, 5 Critical) of a detection's severity. */
const FINDING_SEVERITY: Record<string, number> = { low: 2, medium: 3, high: 4, critical: 5 };

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

/**
 * `anomaly.detected` as a Detection Finding (class 2004, activity 1 Create): finding_info
 * carries the anomaly id, the rule as its analytic and type, the summary, and the
 * triggering events as related_events (their uids are the audit cursors, which are the
 * metadata.uid of those events in this same feed). The person and session go in
 * evidences (the class has no actor), what was seen against its baseline in evidences' data.
 */
function detectionFinding(event: WireAuditEvent): Record<string, unknown> {
  const { data } = event;
  const rule = text(data.rule);
  const severity = text(data.severity);
  const person = text(data.user);
  const [analyticTypeId, analyticType] = ANALYTIC_TYPE[rule] ?? [99, 'Other'];
  const time = Date.parse(event.time);
  return {
    ...baseEvent(event, 'detection_finding', 1),
    severity_id: FINDING_SEVERITY[severity] ?? 0,
    severity: severity.charAt(0).toUpperCase() + severity.slice(1),
    // The finding's own status (1 New): acknowledging it is a later event.
    status_id: 1,
    status: 'New',
    message: text(data.summary),
    finding_info: {
      uid: text(data.anomalyId),
      title: `${rule} anomaly: ${person}`,
      desc: text(data.summary),
      types: [rule],
      created_time: time,
      analytic: { uid: rule, name: rule, type_id: analyticTypeId, type: analyticType },
      related_events: strings(data.eventIds).map((uid) => ({ uid })),
    },
    resources: ocsfResources(event),
    evidences: [{ actor: { user: user(person), ...(event.sessionId ? { session: { uid: event.sessionId } } : {}) }, data: { score: data.score, observed: data.observed, baseline: data.baseline } }],
  };
}
