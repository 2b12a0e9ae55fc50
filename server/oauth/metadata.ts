import { MCP_SCOPE } from './resources.js';
import type { McpResources } from './resources.js';

/** Where the authorization server's endpoints live, under the issuer. */
export const OAUTH_PATHS = {
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  register: '/oauth/register',
  revoke: '/oauth/revoke',
  jwks: '/oauth/jwks',
} as const;

/**
 * RFC 8414 authorization server metadata: what MCP clients check before they start
 * (S256, public clients, registration, URL client ids, `iss` in responses).
 */
export function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}${OAUTH_PATHS.authorize}`,
    token_endpoint: `${issuer}${OAUTH_PATHS.token}`,
    registration_endpoint: `${issuer}${OAUTH_PATHS.register}`,
    revocation_endpoint: `${issuer}${OAUTH_PATHS.revoke}`,
    jwks_uri: `${issuer}${OAUTH_PATHS.jwks}`,
    scopes_supported: [MCP_SCOPE],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
    // No ID tokens are issued (no `openid` scope): OIDC discovery gets this same document.
    subject_types_supported: ['public'],
  };
}

/** RFC 9728 protected resource metadata of one MCP endpoint. */
export function protectedResourceMetadata(resource: string, issuer: string, resources: McpResources): Record<string, unknown> {
  const name = resource === resources.federated ? 'Portcullis MCP (federated)' : `Portcullis MCP: ${resource.slice(resources.federated.length + 1)}`;
  return {
    resource,
    authorization_servers: [issuer],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: name,
  };
}
