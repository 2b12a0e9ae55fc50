import { errorCodes } from '../forms/field-errors';
import type { ErrorLike } from '../forms/field-errors';

/**
 * An expired or revoked sign-in, as the API reports it: a GraphQL error with code
 * UNAUTHENTICATED, or an HTTP 401 (the broker refuses the credential before execution).
 */
export function isSignedOut(error: (ErrorLike & { response?: { status?: number } }) | undefined): boolean {
  if (!error) return false;
  return error.response?.status === 401 || errorCodes(error).includes('UNAUTHENTICATED');
}

/** Where to sign in again and come back to this page: `/signin?returnTo=/audit%3Fuser%3D...`. */
export function signInUrl(location: { pathname: string; search: string }): string {
  return `/signin?returnTo=${encodeURIComponent(`${location.pathname}${location.search}`)}`;
}

type Departure = 'signing-out' | 'signed-out';
let departing: Departure | null = null;

/**
 * Who sends the browser away from the console: the first to claim it. Signing out claims
 * it from the moment it starts, since the logout itself ends the session and the
 * connection reports that (a 401, a 4401 close) before the broker's answer says where to
 * go: the IdP's Single Logout must not be overtaken by the sign-in page.
 */
export const departure = {
  claim(by: Departure): boolean {
    if (departing !== null) return false;
    departing = by;
    return true;
  },
  release(by: Departure): void {
    if (departing === by) departing = null;
  },
};
