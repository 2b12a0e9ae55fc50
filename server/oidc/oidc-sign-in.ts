import * as client from 'openid-client';
import type { Clock } from '../clock.js';
import { newBrowserBinding } from '../http/browser-binding.js';
import { hashSecret, secretMatches } from '../identity/credentials.js';
import { checkIdentity } from '../identity/sign-in-identity.js';
import type { SignInRecorder } from '../identity/sign-in-identity.js';
import type { OneTimeValueStore } from '../stores/types.js';
import { atHashMatches } from './at-hash.js';
import { refusalOfLibraryError } from './library-errors.js';
import type { OidcProvider } from './provider.js';
import { OidcRejection } from './refusal.js';
import { oidcCallbackUrl } from './urls.js';

/** How long a sign-in may take at the provider before its state is forgotten. */
const PENDING_TTL_MS = 10 * 60_000;
/** openid-client's randomState: 32 random bytes, base64url. */
const STATE = /^[A-Za-z0-9_-]{43}$/;
/** OpenID Connect Core §2: `sub` is at most 255 ASCII characters; printable here, since it becomes part of the user id. */
const SUBJECT = /^[\x21-\x7e]{1,255}$/;

/** What the broker keeps of a sign-in it began, under its state, until the callback takes it (once). */
interface PendingSignIn {
  nonce: string;
  verifier: string;
  returnTo: string;
  /** SHA-256 of the browser binding (the cookie set at the start): the callback must come back to that browser. */
  browser: string;
}

/**
 * OpenID Connect sign-in, authorization code flow with PKCE (RFC 7636) and a nonce: the
 * state, nonce and verifier stay on the server (in the shared store, so any instance can
 * finish what another began), and the state is taken once, so a callback cannot be
 * replayed. The ID token is validated by openid-client (signature by the provider's JWKS
 * with an algorithm allow-list, iss, aud, exp, iat, nonce), then the person is held to
 * the same rules as a SAML sign-in (identity/sign-in-identity.ts).
 */
export class OidcSignIn {
  constructor(private readonly deps: { pending: OneTimeValueStore; recorder: SignInRecorder; clock: Clock; publicUrl: string }) {}

  /**
   * Begins a sign-in: where to send the browser, and the binding to set in its cookie.
   * Throws OidcRejection('provider_unavailable') while the provider cannot be discovered.
   */
  async begin(provider: OidcProvider, returnTo: string): Promise<{ location: URL; binding: string }> {
    const configuration = await provider.discovered();
    const state = client.randomState();
    const verifier = client.randomPKCECodeVerifier();
    const binding = newBrowserBinding();
    const pending: PendingSignIn = { nonce: client.randomNonce(), verifier, returnTo, browser: hashSecret(binding) };
    await this.deps.pending.put(pendingKey(provider, state), JSON.stringify(pending), this.deps.clock.now() + PENDING_TTL_MS);
    const location = client.buildAuthorizationUrl(configuration, {
      redirect_uri: oidcCallbackUrl(this.deps.publicUrl, provider.idp.id),
      scope: provider.idp.scopes.join(' '),
      state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { location, binding };
  }

  /**
   * Finishes a sign-in from the provider's redirect (`query`: the callback's query string):
   * the pending sign-in taken by its state, the code exchanged with the PKCE verifier, the
   * ID token checked, the person checked, the audit event, the session.
   */
  async complete(provider: OidcProvider, query: URLSearchParams, binding: string | undefined, address: string | undefined): Promise<{ cookieValue: string; expiresAt: number; returnTo: string }> {
    const { idp } = provider;
    const state = query.get('state');
    if (state === null || !STATE.test(state)) throw new OidcRejection('state_missing');
    const stored = await this.deps.pending.take(pendingKey(provider, state));
    if (stored === null) throw new OidcRejection('state_unknown');
    const pending = JSON.parse(stored) as PendingSignIn;
    // Login CSRF (RFC 6749 §10.12): someone else's callback, carried to this browser, would sign it in as them.
    if (binding === undefined || !secretMatches(binding, pending.browser)) throw new OidcRejection('browser_mismatch');
    if (query.has('error')) throw new OidcRejection('provider_error', query.get('error'));

    const configuration = await provider.discovered();
    const callbackUrl = new URL(oidcCallbackUrl(this.deps.publicUrl, idp.id));
    callbackUrl.search = query.toString();
    const tokens = await client
      .authorizationCodeGrant(configuration, callbackUrl, { pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true })
      .catch((error: unknown) => {
        throw refusalOfLibraryError(error);
      });
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new OidcRejection('id_token_invalid');
    if (!atHashMatches(tokens.id_token, claims.at_hash, tokens.access_token)) throw new OidcRejection('id_token_invalid');
    if (!SUBJECT.test(claims.sub)) throw new OidcRejection('subject_invalid');

    const email = claims[idp.claims.email];
    if (idp.requireVerifiedEmail && typeof email === 'string' && claims.email_verified !== true) throw new OidcRejection('email_not_verified');
    const groups = idp.claims.groups === undefined ? [] : claims[idp.claims.groups] ?? [];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new OidcRejection('groups_invalid');
    const displayName = claims[idp.claims.displayName];
    const checked = checkIdentity(idp, {
      subject: claims.sub,
      email: typeof email === 'string' ? email : undefined,
      displayName: typeof displayName === 'string' && displayName !== '' ? displayName : null,
      groups,
    });
    if ('refusal' in checked) throw new OidcRejection(checked.refusal);
    const { user } = checked;
    const session = await this.deps.recorder.succeeded(user, { idp: idp.id, sub: claims.sub, groups: user.groups, protocol: 'oidc' }, address);
    if (!session) throw new OidcRejection('user_deprovisioned');
    return { ...session, returnTo: pending.returnTo };
  }

  refused(idpId: string, rejection: OidcRejection, address: string | undefined): Promise<void> {
    return this.deps.recorder.refused(idpId, rejection.code, address, rejection.details);
  }
}

/** Scoped to one IdP: a state begun with IdP A is unknown at IdP B's callback. */
function pendingKey(provider: OidcProvider, state: string): string {
  return `${provider.idp.id}:${state}`;
}
