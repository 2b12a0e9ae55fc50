import type { TrustedIdp } from '../identity/trusted-idps.js';
import { oidcLoginPath } from '../oidc/urls.js';
import { samlLoginPath } from '../saml/sp-urls.js';

/** Where a sign-in with this IdP starts, by its protocol, coming back to `returnTo` (a same-origin path). */
export function loginPath(idp: Pick<TrustedIdp, 'id' | 'protocol'>, returnTo: string): string {
  return idp.protocol === 'oidc' ? oidcLoginPath(idp.id, returnTo) : samlLoginPath(idp.id, returnTo);
}
