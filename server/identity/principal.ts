import type { RoleConfig } from '../config/schema.js';
import type { ApiTokenScope, UserIdentity } from '../stores/types.js';

export const API_TOKEN_SCOPES = ['api', 'mcp', 'audit:read'] as const satisfies readonly ApiTokenScope[];

/** Who is calling, and through which credential. */
export interface Principal {
  user: UserIdentity;
  /** Role names from `roles[].members`, computed at each request so config changes apply. */
  roles: string[];
  /** A browser session holds every scope; a token only those it was given. */
  scopes: ReadonlySet<ApiTokenScope>;
  /** The credential it came through, and when that credential ends (live connections close then). */
  credential: { kind: 'session' | 'token'; id: string; expiresAt: number };
}

export function rolesOf(user: UserIdentity, roles: readonly RoleConfig[]): string[] {
  const email = user.email.toLowerCase();
  return roles
    .filter((role) => role.members.emails.some((e) => e.toLowerCase() === email) || role.members.groups.some((g) => user.groups.includes(g)))
    .map((role) => role.name);
}
