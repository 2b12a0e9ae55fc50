import type { IncomingHttpHeaders } from 'node:http';
import { PortcullisError } from '../server/errors.js';
import { UpgradeRefused } from '../server/http/upgrade-router.js';
import type { Authenticator, PresentedCredential } from '../server/identity/authenticate.js';
import type { Principal } from '../server/identity/principal.js';
import { McpAuthError } from '../server/oauth/mcp-authenticate.js';
import type { McpRequestAuthenticator } from '../server/oauth/mcp-authenticate.js';

/**
 * The seam every MCP HTTP request is authenticated through: who calls the endpoint whose
 * canonical URL is `resource` (`${publicUrl}/mcp/everything`, `${publicUrl}/mcp`). A
 * credential bound to an audience (an OAuth access token) is checked against `resource`.
 * Throws UpgradeRefused 401 (with its challenge) when none or a bad one was presented.
 */
export type McpAuthenticate = (headers: IncomingHttpHeaders, address: string | undefined, resource: string) => Promise<Principal>;

/** The principal behind a credential presented from `address`: 401 when none was presented or the store refuses it. */
export async function principalOf(authenticator: Authenticator, credential: PresentedCredential, address: string | undefined): Promise<Principal> {
  if (credential === null) throw new UpgradeRefused(401, 'sign in first: no credential presented');
  try {
    return (await authenticator.resolve(credential, address))!;
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'UNAUTHENTICATED') throw new UpgradeRefused(401, error.message, { error: 'invalid_token', description: error.message });
    throw error;
  }
}

/**
 * OAuth access tokens bound to the endpoint's resource, and API tokens with the `mcp`
 * scope, in `Authorization: Bearer` only: a browser attaches its cookies to cross-site
 * requests (CSRF), never a bearer token. The authenticator's refusals become the edge's.
 */
export function mcpAuthentication(authenticator: McpRequestAuthenticator): McpAuthenticate {
  return (headers, address, resource) =>
    authenticator.authenticate(headers, resource, address).catch((error: unknown) => {
      if (error instanceof McpAuthError) throw new UpgradeRefused(error.status, error.message, error.error && { error: error.error, description: error.message });
      throw error;
    });
}
