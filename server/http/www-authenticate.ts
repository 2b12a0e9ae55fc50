/** Why a Bearer credential was refused (RFC 6750 §3.1); `scope` names what an `insufficient_scope` lacks. */
export interface BearerRefusal {
  error: 'invalid_token' | 'invalid_request' | 'insufficient_scope';
  description: string;
  scope?: string;
}

/**
 * The `WWW-Authenticate: Bearer` challenge of a 401, or of a 403 for a missing scope
 * (RFC 6750 §3). A request that carried no credential gets the bare challenge (§3.1: no
 * error code then); one whose credential was refused gets `error` and a description a
 * person can act on. On a protected resource, `resource_metadata` tells a client where to
 * learn how to get a token for it (RFC 9728 §5.1; MCP authorization, 2025-11-25).
 */
export function bearerChallenge(refusal: BearerRefusal | null, resourceMetadata?: string): string {
  const params = ['realm="portcullis"'];
  if (resourceMetadata !== undefined) params.push(`resource_metadata="${quoted(resourceMetadata)}"`);
  if (refusal !== null) {
    params.push(`error="${refusal.error}"`, `error_description="${quoted(refusal.description)}"`);
    if (refusal.scope !== undefined) params.push(`scope="${quoted(refusal.scope)}"`);
  }
  return `Bearer ${params.join(', ')}`;
}

/**
 * Where the metadata of a protected resource lives: the well-known suffix goes between the
 * host and the path of the resource identifier (RFC 9728 §3.1), so
 * `https://b.example/mcp/x` has `https://b.example/.well-known/oauth-protected-resource/mcp/x`.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** RFC 7230 quoted-string content: printable ASCII without `"` and `\` (never worth escaping here). */
function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 200);
}
