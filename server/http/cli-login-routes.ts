import express, { Router } from 'express';
import type { Request, Response } from 'express';
import { PortcullisError } from '../errors.js';
import type { Authenticator } from '../identity/authenticate.js';
import { CliLoginService } from '../identity/cli-login.js';
import { confirmationCode } from '../identity/pkce.js';
import type { Principal } from '../identity/principal.js';
import type { Logger } from '../log.js';
import { html, sendPage } from './html-page.js';
import { loginPath } from './login-path.js';
import type { SignInChoice } from './sign-in-page.js';
import { bearerChallenge } from './www-authenticate.js';
import { requireOwnOrigin } from './same-origin.js';

/** The paths `portcullis login` uses. */
export const CLI_LOGIN_PATH = '/auth/cli/login';
const CLI_FINISH_PATH = '/auth/cli/finish';
const CLI_TOKEN_PATH = '/auth/cli/token';

const STATE = /^[A-Za-z0-9_-]{16,128}$/;
const PORT = /^\d{4,5}$/;

interface LoginParams {
  port: number;
  state: string;
  challenge: string;
}

/**
 * The broker's half of `portcullis login` (see CliLoginService):
 * 1. GET /auth/cli/login starts a sign-in with the chosen IdP (SAML or OIDC) that returns to /auth/cli/finish;
 * 2. GET /auth/cli/finish asks the signed-in person to confirm (RFC 8252 §8.6: never
 *    hand a login to a local listener without the user's say; a page elsewhere could
 *    have started this flow for a listener of its own);
 * 3. POST /auth/cli/finish (same origin only) sends the browser to the CLI's listener on
 *    127.0.0.1 with a one-time code, or with error=access_denied;
 * 4. POST /auth/cli/token: the CLI trades the code and its PKCE verifier for a token.
 */
export function cliLoginRoutes(deps: { idps: readonly SignInChoice[]; publicUrl: string; authenticator: Authenticator; cliLogin: CliLoginService; logger: Logger }): Router {
  const router = Router();

  router.get(CLI_LOGIN_PATH, (req, res) => {
    const params = loginParams(req.query);
    if (typeof params === 'string') return void plain(res, 400, params);
    const idp = chooseIdp(req.query.idp, deps.idps);
    if ('error' in idp) return void plain(res, 400, idp.error);
    const returnTo = `${CLI_FINISH_PATH}?${new URLSearchParams(paramsQuery(params))}`;
    res.redirect(302, loginPath(idp, returnTo));
  });

  router.get(CLI_FINISH_PATH, async (req, res) => {
    const params = loginParams(req.query);
    if (typeof params === 'string') return void plain(res, 400, params);
    const principal = await signedInBrowser(req, res, deps);
    if (!principal) return;
    // Framing would let another site trick the click (the page's own policy, html-page.ts,
    // refuses it). The form goes back to us, and our answer redirects it to the CLI's
    // listener: browsers check every redirect of a form submission against the form-action
    // of the page that submitted it (CSP 3, form-action), so this page must name the listener too.
    res.setHeader('Cache-Control', 'no-store');
    const hidden = Object.entries(paramsQuery(params))
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${html(value)}">`)
      .join('');
    sendPage(
      res,
      'Sign in the Portcullis CLI',
      `<h1>Sign in the Portcullis CLI?</h1>` +
        `<p>A <code>portcullis login</code> on this computer asks to act as <strong>${html(principal.user.email)}</strong>: the Portcullis API and MCP servers, for as long as this browser sign-in lasts.</p>` +
        `<p>Allow it only if you just ran it and your terminal shows this code: <strong class="confirmation-code">${confirmationCode(params.challenge)}</strong></p>` +
        `<form method="post" action="${CLI_FINISH_PATH}" class="actions">${hidden}<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny" class="button-secondary">Cancel</button></form>`,
      { formTargets: [`http://127.0.0.1:${params.port}`] },
    );
  });

  // Only our own consent page may confirm.
  const fromConsentPage = requireOwnOrigin(deps.publicUrl, 'Refused: this confirmation did not come from the Portcullis sign-in page.');
  router.post(CLI_FINISH_PATH, fromConsentPage, express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 8 }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params = loginParams(body);
    if (typeof params === 'string') return void plain(res, 400, params);
    const principal = await signedInBrowser(req, res, deps);
    if (!principal) return;
    const callback = new URL(`http://127.0.0.1:${params.port}/callback`);
    try {
      if (body.decision === 'allow') callback.searchParams.set('code', await deps.cliLogin.issueCode(principal, params.challenge));
      else callback.searchParams.set('error', 'access_denied');
      callback.searchParams.set('state', params.state);
    } catch (error) {
      const failure = describeFailure(deps.logger, error);
      return void plain(res, failure.status, `Sign-in for the CLI failed: ${failure.message}`);
    }
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, callback.toString());
  });

  router.post(CLI_TOKEN_PATH, express.json({ limit: '4kb' }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      const { token, record } = await deps.cliLogin.exchange({ code: body.code, verifier: body.code_verifier, name: body.name, address: req.ip });
      res.setHeader('Cache-Control', 'no-store');
      res.json({ token, tokenId: record.id, expiresAt: new Date(record.expiresAt).toISOString(), user: { email: record.user.email, idp: record.user.idp } });
    } catch (error) {
      const failure = describeFailure(deps.logger, error);
      if (failure.status === 401) res.setHeader('WWW-Authenticate', bearerChallenge({ error: 'invalid_token', description: failure.message }));
      res.status(failure.status).json({ error: failure.code, message: failure.message });
    }
  });

  return router;
}

/** The browser's session principal, or a refusal page already sent (null). */
async function signedInBrowser(req: Request, res: Response, deps: { authenticator: Authenticator; logger: Logger }): Promise<Principal | null> {
  try {
    const principal = await deps.authenticator.browserPrincipal(req.headers, req.ip);
    if (principal) return principal;
    plain(res, 401, 'Not signed in: run `portcullis login` again.');
  } catch (error) {
    const failure = describeFailure(deps.logger, error);
    plain(res, failure.status, `Sign-in for the CLI failed: ${failure.message}`);
  }
  return null;
}

function loginParams(query: Record<string, unknown>): LoginParams | string {
  const { port, state, code_challenge: challenge, code_challenge_method: method } = query;
  // Unprivileged ports only: the listener is the user's own CLI, never a system service.
  if (typeof port !== 'string' || !PORT.test(port) || Number(port) < 1024 || Number(port) > 65535) return 'port must be the CLI listener port (1024-65535)';
  if (typeof state !== 'string' || !STATE.test(state)) return 'state must be 16 to 128 base64url characters';
  if (method !== 'S256' || !CliLoginService.isChallenge(challenge)) return 'code_challenge must be a PKCE S256 challenge (code_challenge_method=S256)';
  return { port: Number(port), state, challenge };
}

function paramsQuery(params: LoginParams): Record<string, string> {
  return { port: String(params.port), state: params.state, code_challenge: params.challenge, code_challenge_method: 'S256' };
}

function chooseIdp(value: unknown, idps: readonly SignInChoice[]): SignInChoice | { error: string } {
  if (value === undefined && idps.length === 1) return idps[0]!;
  const chosen = idps.find((idp) => idp.id === value);
  return chosen ?? { error: `choose an identity provider (portcullis login --idp ID): ${idps.map((idp) => idp.id).join(', ')}` };
}

const STATUS: Partial<Record<PortcullisError['code'], number>> = { INVALID_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, STORE_UNAVAILABLE: 503, STORE_FULL: 503 };

/** Typed errors keep their code and message; anything else is a bare 500 (details only in the log). */
function describeFailure(logger: Logger, error: unknown): { status: number; code: string; message: string } {
  const status = error instanceof PortcullisError ? STATUS[error.code] : undefined;
  if (status !== undefined) return { status, code: (error as PortcullisError).code, message: (error as PortcullisError).message };
  logger.error({ err: error }, 'CLI login failed');
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

function plain(res: Response, status: number, message: string): void {
  if (status === 401) res.setHeader('WWW-Authenticate', bearerChallenge(null));
  res.status(status).type('text/plain').send(message);
}
