/** Every audit event type Portcullis writes (a public surface: SIEM rules match on these). */
export const AUDIT_EVENT_TYPES = [
  'auth.login',
  'auth.logout',
  'auth.token.created',
  'auth.token.revoked',
  'access_request.created',
  'access_request.reviewed',
  'access_request.cancelled',
  'access_request.expired',
  'grant.issued',
  'grant.revoked',
  'grant.expired',
  'oauth.client.registered',
  'oauth.consent.granted',
  'oauth.consent.denied',
  'oauth.token.issued',
  'oauth.token.refreshed',
  'oauth.token.revoked',
  'oauth.token.refused',
  'mcp.session.start',
  'mcp.session.end',
  'mcp.request',
  'mcp.notification',
  'mcp.server_request',
  'audit.checkpoint',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];
