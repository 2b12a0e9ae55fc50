/** Our SAML endpoints for one IdP, under the public URL (which may carry a path prefix). */
export interface SpUrls {
  login: string;
  acs: string;
  metadata: string;
  /** SingleLogoutService (both bindings), offered when the IdP has a singleLogoutUrl. */
  slo: string;
}

export function spUrls(publicUrl: string, idpId: string): SpUrls {
  const base = `${publicUrl.replace(/\/+$/, '')}/auth/saml/${encodeURIComponent(idpId)}`;
  return { login: `${base}/login`, acs: `${base}/acs`, metadata: `${base}/metadata`, slo: `${base}/slo` };
}

/** The sign-in start for an IdP as a same-origin path, coming back to `returnTo` (a same-origin path). */
export function samlLoginPath(idpId: string, returnTo: string): string {
  return `/auth/saml/${encodeURIComponent(idpId)}/login?returnTo=${encodeURIComponent(returnTo)}`;
}
