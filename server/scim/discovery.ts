import { SCHEMA } from './scim-resources.js';

/** RFC 7643 §5: what this endpoint supports (PATCH and filters; no bulk, sort, ETags or password changes). */
export function serviceProviderConfig(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 200 },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'Bearer token', description: 'The token configured as identityProviders[].scim.token', primary: true }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export const RESOURCE_TYPES: Record<string, unknown>[] = [
  { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users', schema: SCHEMA.user, meta: { resourceType: 'ResourceType' } },
  { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', schema: SCHEMA.group, meta: { resourceType: 'ResourceType' } },
];

const attribute = (name: string, type: 'string' | 'boolean' | 'complex', extra: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...extra,
});

/** The attributes Portcullis keeps; any other a client sends is ignored. */
export const SCHEMAS: Record<string, unknown>[] = [
  {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: SCHEMA.user,
    name: 'User',
    attributes: [
      attribute('userName', 'string', { required: true, uniqueness: 'server' }),
      attribute('externalId', 'string', { caseExact: true }),
      attribute('active', 'boolean'),
      attribute('displayName', 'string'),
      attribute('emails', 'complex', { multiValued: true }),
    ],
    meta: { resourceType: 'Schema' },
  },
  {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: SCHEMA.group,
    name: 'Group',
    attributes: [attribute('displayName', 'string', { required: true, uniqueness: 'server' }), attribute('externalId', 'string', { caseExact: true }), attribute('members', 'complex', { multiValued: true })],
    meta: { resourceType: 'Schema' },
  },
];
