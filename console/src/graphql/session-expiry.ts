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
