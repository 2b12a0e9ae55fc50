import type { PortcullisConfig } from '../config/schema.js';

export type SignInProtocol = 'saml' | 'oidc';

/**
 * An IdP as everything outside its own protocol's routes sees it: how a sign-in with it
 * starts, the name a sign-in page shows, and the email domains it may vouch for (checked
 * again whenever a credential is used: principal.ts).
 */
export interface TrustedIdp {
  id: string;
  displayName: string;
  protocol: SignInProtocol;
  emailDomains?: string[] | undefined;
}

/** The configured IdPs in the file's order, then any the broker serves itself (the development IdP). */
export function trustedIdps(config: Pick<PortcullisConfig, 'identityProviders'>, served: readonly TrustedIdp[] = []): TrustedIdp[] {
  return [...config.identityProviders.map((idp) => ({ id: idp.id, displayName: idp.displayName ?? idp.id, protocol: idp.type, emailDomains: idp.emailDomains })), ...served];
}
