/** Why a Bearer credential was refused (RFC 6750 §3.1). */
export interface BearerRefusal {
  error: 'invalid_token' | 'invalid_request' | 'insufficient_scope';
  description: string;
}

/**
 * The `WWW-Authenticate: Bearer` challenge of a 401 (RFC 6750 §3). A request that carried
 * no credential gets the bare challenge (§3.1: no error code then); one whose credential
 * was refused gets `error` and a description a person can act on.
 */
export function bearerChallenge(refusal: BearerRefusal | null): string {
  return challenge([], refusal);
}

/**
 * The challenge of an MCP endpoint (MCP authorization spec, RFC 9728 §5.1): where its
 * protected resource metadata is, and the scope a token needs, so a client can discover
 * the authorization server and ask for the right thing. A 403 carries
 * `error="insufficient_scope"` (RFC 6750 §3.1).
 */
export function mcpBearerChallenge(resource: { metadataUrl: string; scope: string }, refusal: BearerRefusal | null): string {
  return challenge([`resource_metadata="${quoted(resource.metadataUrl)}"`, `scope="${quoted(resource.scope)}"`], refusal);
}

function challenge(params: string[], refusal: BearerRefusal | null): string {
  const error = refusal ? [`error="${refusal.error}"`, `error_description="${quoted(refusal.description)}"`] : [];
  return ['Bearer realm="portcullis"', ...params, ...error].join(', ');
}

/** RFC 7230 quoted-string content: printable ASCII without `"` and `\` (never worth escaping here). */
function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 200);
}
