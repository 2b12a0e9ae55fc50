import { DEV_IDP_ID } from './schema.js';
import type { PortcullisConfig } from './schema.js';

/** A valid config that still does something an operator rarely means; the server starts with it. */
export interface ConfigWarning {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Group names are the IdP's own: with more than one IdP, a role held through
 * `members.groups` and naming no `members.idps` is conferred by a group of that name from
 * any of them (docs/identity.md), so a partner IdP's `security` group makes auditors.
 */
export function configWarnings(config: PortcullisConfig): ConfigWarning[] {
  const idps = [...config.identityProviders.map((idp) => idp.id), ...(config.devIdp?.enabled ? [DEV_IDP_ID] : [])];
  if (idps.length < 2) return [];
  return config.roles.flatMap((role, i) =>
    role.members.groups.length > 0 && role.members.idps === undefined
      ? [{ path: ['roles', i, 'members', 'groups'], message: `a group of these names from any of the ${idps.length} IdPs (${idps.join(', ')}) confers this role: name the IdPs it trusts in members.idps` }]
      : [],
  );
}
