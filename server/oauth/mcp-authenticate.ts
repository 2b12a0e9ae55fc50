import type { IncomingHttpHeaders } from 'node:http';
import { clientAddressData } from '../audit/client-address.js';
import { mcpBearerChallenge } from '../http/www-authenticate.js';
import type { ApiTokenService } from '../identity/api-tokens.js';
import { withAddress } from '../identity/principal.js';
import type { Principal } from '../identity/principal.js';
import { MCP_SCOPE, SERVER_NAME_SEGMENT } from './resources.js';
import type { McpResources } from './resources.js';
import { OAuthTokens } from './tokens.js';

const SERVER_NAME = new RegExp(`^${SERVER_NAME_SEGMENT}$`);
/** RFC 6750 §2.1: `Bearer 1*SP b64token`, the scheme case-insensitive (RFC 9110 §11.1). */
const BEARER_CREDENTIALS = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
/** `Bearer` with no token: what a client sends whose token variable is unset. */
const EMPTY_BEARER = /^Bearer *$/i;

/** Why an MCP request was refused, as RFC 6750 §3.1 names it (null: no credential at all). */
export type McpAuthFailure = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | null;

/**
 * An MCP HTTP request refused before it reaches the broker: answer `status` with
 * `WWW-Authenticate: <challenge>` (and a JSON body naming `error`, if you like).
 */
export class McpAuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403,
    readonly error: McpAuthFailure,
    message: string,
    /** The `WWW-Authenticate` value: resource_metadata, scope and (unless no credential was sent) the error. */
    readonly challenge: string,
  ) {
    super(message);
    this.name = 'McpAuthError';
  }
}

/**
 * Who is calling an MCP endpoint over HTTP. An OAuth access token counts only at the
 * resource it was issued for (RFC 8707 audience): a token for `/mcp/a` is refused at
 * `/mcp/b`, at `/mcp`, and at `/graphql` (which knows only API tokens). A token for the
 * federated `/mcp` also counts at each `/mcp/<server>` (see McpResources.covers). API tokens with the `mcp`
 * scope keep working, as on the WebSocket endpoints. The token itself never goes further:
 * upstreams get their own configured credentials, never the client's.
 */
export class McpRequestAuthenticator {
  constructor(private readonly deps: { oauth: OAuthTokens; apiTokens: ApiTokenService; resources: McpResources }) {}

  /**
   * The principal for a request to `resource` (a canonical URL from McpResources, such as
   * `${publicUrl}/mcp/<server>` or `${publicUrl}/mcp`). Throws McpAuthError: 400 for a
   * malformed Bearer token, 401 without a usable token, 403 for an API token lacking
   * the `mcp` scope. A refused OAuth token we issued is audited (`oauth.token.refused`); a
   * bearer value we did not issue never is.
   */
  async authenticate(headers: IncomingHttpHeaders, resource: string, address: string | undefined): Promise<Principal> {
    const from = clientAddressData(address);
    const challenge = { metadataUrl: this.deps.resources.metadataUrl(resource), scope: MCP_SCOPE };
    const refuse = (status: 400 | 401 | 403, error: McpAuthFailure, message: string) =>
      new McpAuthError(status, error, message, mcpBearerChallenge(challenge, error && { error, description: message }));
    const header = headers.authorization ?? '';
    // RFC 6750 §3: a request without Bearer credentials (none, another scheme, or a Bearer with no
    // token) gets the bare challenge, no error code: it is what MCP clients start OAuth discovery
    // from, and the MCP SDK starts none on a 400, which would leave a client whose token variable
    // is unset stuck at an error instead of signing in.
    if (header.split(' ', 1)[0]!.toLowerCase() !== 'bearer' || EMPTY_BEARER.test(header)) throw refuse(401, null, 'this MCP endpoint needs an OAuth access token');
    const bearer = BEARER_CREDENTIALS.exec(header)?.[1];
    // §3.1: a token that is no b64token (several parts, other characters) is a malformed request.
    if (!bearer) throw refuse(400, 'invalid_request', 'malformed Authorization: expected "Bearer <token>"');

    if (OAuthTokens.isAccessToken(bearer)) {
      const record = await this.deps.oauth.accessToken(bearer);
      // Not a token we hold (forged, or gone: expired, revoked): nobody to name, and anyone could
      // flood the log with them, so it is not audited, like any 401 on WebSocket (session-registry.ts).
      if (!record) throw refuse(401, 'invalid_token', 'unknown, expired or revoked access token');
      // One we issued, refused: recorded under its holder, for the outlier detector.
      const refused = (status: 401 | 403, error: McpAuthFailure, message: string, reason: string, extra: Record<string, unknown> = {}) =>
        this.deps.oauth.refused(refuse(status, error, message), record.user.email, record, { reason, ...namedResource(resource, this.deps.resources.federated), ...extra, ...from });
      if (!this.deps.resources.covers(record.resource, resource)) {
        throw await refused(401, 'invalid_token', 'this access token was issued for another resource', 'wrong_audience', { audience: record.resource });
      }
      if (!(await this.deps.oauth.isLive(record.familyId))) throw await refused(401, 'invalid_token', 'the sign-in behind this token has ended', 'signed_out');
      const principal = await this.deps.oauth.principalOf(record);
      if (!principal) throw await refused(401, 'invalid_token', 'the user behind this token can no longer sign in', 'user_not_allowed');
      if (!principal.scopes.has('mcp')) throw await refused(403, 'insufficient_scope', `this access token lacks the "${MCP_SCOPE}" scope`, 'insufficient_scope');
      return withAddress(principal, address);
    }
    const principal = await this.deps.apiTokens.resolve(bearer);
    if (!principal) throw refuse(401, 'invalid_token', 'invalid or expired token');
    if (!principal.scopes.has('mcp')) throw refuse(403, 'insufficient_scope', `this API token lacks the "${MCP_SCOPE}" scope`);
    return withAddress(principal, address);
  }
}

/**
 * The resource a refused token was presented at, as the audit log records it: its path is
 * the caller's text (decoded by express), so it is recorded only where it can name an
 * endpoint, `/mcp` or `/mcp/<server name>` (SERVER_NAME_SEGMENT), never kilobytes of
 * whatever was sent.
 */
function namedResource(resource: string, federated: string): { resource?: string } {
  const name = resource.startsWith(`${federated}/`) ? resource.slice(federated.length + 1) : null;
  return resource === federated || (name !== null && SERVER_NAME.test(name)) ? { resource } : {};
}
