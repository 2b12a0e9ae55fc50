/** A SCIM bearer token as an operator would configure one (32+ characters). */
export const SCIM_TOKEN = 'scim-corp-7Qm2vX9pL4rT8kW1nB6yD3hF5jZ0sA';
export const OTHER_SCIM_TOKEN = 'scim-other-Hc4Jv8Nq2Wx6Rt0Yb3Lm7Pz1Ks5Gd9';

export interface ScimReply {
  status: number;
  contentType: string | null;
  location: string | null;
  body: Record<string, unknown> & { Resources?: Record<string, unknown>[] };
}

/**
 * A SCIM request as an IdP's provisioning client sends it: `application/scim+json`, the
 * bearer token, the path under /scim/v2 (query included). `body` a string is sent as is.
 */
export async function scim(serverUrl: string, method: string, path: string, options: { token?: string | null; body?: unknown; contentType?: string } = {}): Promise<ScimReply> {
  const token = options.token === undefined ? SCIM_TOKEN : options.token;
  const headers: Record<string, string> = { accept: 'application/scim+json', 'content-type': options.contentType ?? 'application/scim+json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const res = await fetch(`${serverUrl}/scim/v2${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), location: res.headers.get('location'), body: text ? (JSON.parse(text) as ScimReply['body']) : {} };
}

/** Okta's create-user body (Okta SCIM 2.0 protocol reference, "Create the user"). */
export function oktaUser(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId: '00ujl29u0le5T6Aj10h7',
    groups: [],
    password: '1mz050nq',
    active: true,
    ...extra,
  };
}

/** Entra ID's create-user body ("Develop and plan provisioning for a SCIM endpoint", Create User). */
export function entraUser(userName: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
    externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
    userName,
    active: true,
    emails: [{ primary: true, type: 'work', value: userName }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
  };
}

export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Roles held by SCIM groups, for tests of what a group change does: engineers may have
 * echo and get-sum on `everything` at once, readers only echo.
 */
export const GROUP_ROLES = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 3600, autoApprove: true }] },
  { name: 'reader', members: { groups: ['readers'] }, request: [{ server: 'everything', tools: ['echo'], maxDurationSeconds: 3600, autoApprove: true }] },
];
