/** Where the provider sends the browser back: registered at the provider as this client's redirect URI. */
export function oidcCallbackUrl(publicUrl: string, idpId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/auth/oidc/${encodeURIComponent(idpId)}/callback`;
}

/** The sign-in start for an OIDC IdP as a same-origin path, coming back to `returnTo` (a same-origin path). */
export function oidcLoginPath(idpId: string, returnTo: string): string {
  return `/auth/oidc/${encodeURIComponent(idpId)}/login?returnTo=${encodeURIComponent(returnTo)}`;
}
