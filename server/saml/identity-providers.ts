import type { IdentityProviderConfig } from '../config/schema.js';

/**
 * What the SAML layer needs to know of one IdP, whether it comes from the config file or
 * is the development IdP the broker serves itself. `emailDomains` absent: any domain
 * (allowed only when it is the one IdP).
 */
export type IdentityProvider = Pick<IdentityProviderConfig, 'id' | 'entryPoint' | 'idpIssuer' | 'idpCert' | 'spEntityId' | 'emailDomains' | 'attributes' | 'clockSkewSeconds'> &
  Partial<Pick<IdentityProviderConfig, 'singleLogoutUrl' | 'idpInitiatedSignIn'>> & {
    displayName: string;
  };

export function fromConfig(idp: IdentityProviderConfig): IdentityProvider {
  return { ...idp, displayName: idp.displayName ?? idp.id };
}
