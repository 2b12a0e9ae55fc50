import type { Response } from 'express';
import type { TrustedIdp } from '../identity/trusted-idps.js';
import { html, sendPage } from './html-page.js';
import { loginPath } from './login-path.js';

/** An identity provider as a sign-in page offers it. */
export type SignInChoice = Pick<TrustedIdp, 'id' | 'displayName' | 'protocol'>;

/** "Sign in with …", one link per configured IdP, each returning to `returnTo` once signed in. */
export function sendSignInPage(res: Response, idps: readonly SignInChoice[], returnTo: string, options: { status?: number } = {}): void {
  res.setHeader('Cache-Control', 'no-store');
  const choices = idps.length === 0
    ? `<p>No identity provider is configured: an operator must add one under <code>identityProviders</code>.</p>`
    : `<ul class="choices">${idps.map((idp) => `<li><a class="button" href="${html(loginPath(idp, returnTo))}">Sign in with ${html(idp.displayName)}</a></li>`).join('')}</ul>`;
  sendPage(res, 'Sign in', `<h1>Sign in to Portcullis</h1><p>Choose your organisation's sign-in.</p>${choices}`, options);
}
