import type { IdentityProviderConfig } from '../config/schema.js';

/** What an IdP is trusted for: where sign-ins go, who it is, which certificates sign for it. */
export interface IdpTrust {
  entryPoint: string;
  idpIssuer: string;
  idpCert: string[];
}

/** Where an IdP's trust is fetched from instead (`identityProviders[].metadataUrl`). */
export interface IdpMetadataSource {
  url: string;
  refreshMinutes: number;
  ca: string | undefined;
  allowPrivateNetwork: boolean;
  /** When configured, the metadata's entityID must be this. */
  expectedIssuer: string | undefined;
}

/**
 * What the SAML layer needs to know of one IdP, whether it comes from the config file or
 * is the development IdP the broker serves itself. `emailDomains` absent: any domain
 * (allowed only when it is the one IdP). An IdP configured by metadata URL has empty
 * trust fields here: saml/idp-trust.ts gives the current ones per request.
 */
export type IdentityProvider = Pick<IdentityProviderConfig, 'id' | 'spEntityId' | 'emailDomains' | 'attributes' | 'clockSkewSeconds'> &
  Partial<Pick<IdentityProviderConfig, 'singleLogoutUrl' | 'idpInitiatedSignIn' | 'requireSignedAssertions'>> &
  IdpTrust & {
    displayName: string;
    requireEncryptedAssertions: boolean;
    metadata?: IdpMetadataSource;
  };

export function fromConfig(idp: IdentityProviderConfig): IdentityProvider {
  const { entryPoint, idpIssuer, idpCert, metadataUrl, metadataRefreshMinutes, metadataCa, metadataAllowPrivateNetwork, requireEncryptedAssertions, ...rest } = idp;
  return {
    ...rest,
    displayName: idp.displayName ?? idp.id,
    entryPoint: entryPoint ?? '',
    idpIssuer: idpIssuer ?? '',
    idpCert: idpCert === undefined ? [] : [idpCert].flat(),
    requireEncryptedAssertions,
    ...(metadataUrl === undefined
      ? {}
      : { metadata: { url: metadataUrl, refreshMinutes: metadataRefreshMinutes, ca: metadataCa, allowPrivateNetwork: metadataAllowPrivateNetwork, expectedIssuer: idpIssuer } }),
  };
}
