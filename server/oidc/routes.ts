import { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { BrowserBindingCookie } from '../http/browser-binding.js';
import { failClosed } from '../http/fail-closed.js';
import { html, sendPage } from '../http/html-page.js';
import { safeReturnTo } from '../http/return-to.js';
import type { SessionCookie } from '../http/session-cookie.js';
import { bearerChallenge } from '../http/www-authenticate.js';
import type { Logger } from '../log.js';
import type { OidcSignIn } from './oidc-sign-in.js';
import type { OidcProvider } from './provider.js';
import { OidcRejection } from './refusal.js';
import { oidcLoginPath } from './urls.js';

/** How much of a library's refusal message the debug log keeps (it may quote the response). */
const DETAIL_CHARS = 200;

/**
 * `GET /auth/oidc/:idp/login` (to the provider) and `GET /auth/oidc/:idp/callback` (back
 * from it). Signing out is the shared `POST /auth/logout` (saml/routes.ts).
 */
export function oidcRoutes(deps: { providers: ReadonlyMap<string, OidcProvider>; signIn: OidcSignIn; cookie: SessionCookie; publicUrl: string; logger: Logger }): Router {
  const binding = new BrowserBindingCookie(deps.publicUrl, { name: 'portcullis_oidc', crossSitePost: false });
  const providerOf = (req: Request) => deps.providers.get(String(req.params.idp));
  const requireIdp: RequestHandler = (req, res, next) => {
    if (providerOf(req)) next();
    else res.status(404).type('text/plain').send('unknown identity provider');
  };

  /** Audits the refusal (fail closed: no page until it is recorded), then says why in our own words. */
  const refuse = (req: Request, res: Response, provider: OidcProvider, error: unknown) => {
    if (!(error instanceof OidcRejection)) return failClosed(res, deps.logger, error);
    if (error.cause instanceof Error) deps.logger.debug({ idp: provider.idp.id, reason: error.code, detail: causeChain(error.cause).slice(0, DETAIL_CHARS) }, 'OIDC sign-in refused by the library');
    deps.signIn.refused(provider.idp.id, error, req.ip).then(
      () => sendRefusal(res, provider, error),
      (auditError: unknown) => failClosed(res, deps.logger, auditError),
    );
  };

  const router = Router();

  router.get('/auth/oidc/:idp/login', requireIdp, (req, res) => {
    const provider = providerOf(req)!;
    deps.signIn.begin(provider, safeReturnTo(req.query.returnTo) ?? '/').then(
      ({ location, binding: value }) => {
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Set-Cookie', binding.set(value));
        res.redirect(302, location.href);
      },
      (error: unknown) => refuse(req, res, provider, error),
    );
  });

  router.get('/auth/oidc/:idp/callback', requireIdp, (req, res) => {
    const provider = providerOf(req)!;
    const query = new URL(req.originalUrl, 'http://callback.invalid').searchParams;
    res.setHeader('Cache-Control', 'no-store');
    deps.signIn.complete(provider, query, binding.read(req.headers), req.ip).then(
      (outcome) => {
        res.setHeader('Set-Cookie', [deps.cookie.set(outcome.cookieValue, outcome.expiresAt), binding.clear()]);
        res.redirect(303, safeReturnTo(outcome.returnTo) ?? '/');
      },
      (error: unknown) => refuse(req, res, provider, error),
    );
  });

  return router;
}

/** A refusal page in our words only: the provider's error text is never echoed. */
function sendRefusal(res: Response, provider: OidcProvider, rejection: OidcRejection): void {
  if (res.headersSent) return;
  const unavailable = rejection.code === 'provider_unavailable';
  const name = provider.idp.displayName ?? provider.idp.id;
  // A 401 names its scheme (RFC 7235 §3.1): the broker's credentials are bearer ones.
  if (!unavailable) res.setHeader('WWW-Authenticate', bearerChallenge(null));
  sendPage(
    res,
    unavailable ? 'Sign-in unavailable' : 'Sign-in refused',
    (unavailable ? `<h1>${html(name)} is unavailable</h1><p>Portcullis cannot reach this identity provider right now. Try again in a minute; if it persists, tell your Portcullis operator.</p>` : `<h1>Sign-in refused</h1><p>Signing in with ${html(name)} was refused: ${html(rejection.message)}.</p>`) +
      // The stable code the audit event records (docs/audit.md lists them with their meaning).
      `<p>Reason code: <code>${html(rejection.code)}</code></p>` +
      `<p><a class="button" href="${html(oidcLoginPath(provider.idp.id, '/'))}">Try again</a></p>`,
    { status: unavailable ? 503 : 401 },
  );
}

/** openid-client wraps oauth4webapi's error, whose message names the failed check: both, for the debug log. */
function causeChain(error: Error): string {
  const messages: string[] = [];
  for (let e: unknown = error; e instanceof Error && messages.length < 3; e = e.cause) messages.push(e.message);
  return messages.join(': ');
}
