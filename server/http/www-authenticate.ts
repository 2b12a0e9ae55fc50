/**
 * The `WWW-Authenticate: Bearer` challenge of a 401 (RFC 6750 §3). A request that carried
 * no credential gets the bare challenge (§3.1: no error code then); one whose credential
 * was refused gets `error="invalid_token"` and a description a person can act on.
 */
export function bearerChallenge(refusal: { error: 'invalid_token' | 'invalid_request'; description: string } | null): string {
  if (refusal === null) return 'Bearer realm="portcullis"';
  return `Bearer realm="portcullis", error="${refusal.error}", error_description="${quoted(refusal.description)}"`;
}

/** RFC 7230 quoted-string content: printable ASCII without `"` and `\` (never worth escaping here). */
function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 200);
}
