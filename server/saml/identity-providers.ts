import type { IdentityProviderConfig } from '../config/schema.js';

/**
 * What the SAML layer needs to know of one IdP, whether it comes from the config file or
 * is the development IdP the broker serves itself.
 */
export type IdentityProvider = Pick<IdentityProviderConfig, 'id' | 'entryPoint' | 'idpIssuer' | 'idpCert' | 'spEntityId' | 'attributes' | 'clockSkewSeconds'> & {
  displayName: string;
};

export function fromConfig(idp: IdentityProviderConfig): IdentityProvider {
  return { ...idp, displayName: idp.displayName ?? idp.id };
}
