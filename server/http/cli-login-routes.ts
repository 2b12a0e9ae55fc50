import express, { Router } from 'express';
import type { Response } from 'express';
import { PortcullisError } from '../errors.js';
import type { Authenticator } from '../identity/authenticate.js';
import { CliLoginService } from '../identity/cli-login.js';
import type { Logger } from '../log.js';

/** The paths `portcullis login` uses; the CLI builds its URLs from these. */
export const CLI_LOGIN_PATH = '/auth/cli/login';
const CLI_FINISH_PATH = '/auth/cli/finish';
export const CLI_TOKEN_PATH = '/auth/cli/token';

const STATE = /^[A-Za-z0-9_-]{16,128}$/;
/** Unprivileged ports only: the listener is the user's own CLI, never a system service. */
const PORT = /^[1-9]\d{3,4}$/;

interface LoginParams {
  port: number;
  state: string;
  challenge: string;
}

/**
 * The broker's half of `portcullis login` (see CliLoginService): start a SAML sign-in
 * that comes back to /auth/cli/finish, which sends the browser to the CLI's loopback
 * listener with a one-time code; the CLI redeems it at /auth/cli/token.
 */
export function cliLoginRoutes(deps: { idpIds: readonly string[]; authenticator: Authenticator; cliLogin: CliLoginService; logger: Logger }): Router {
  const router = Router();

  router.get(CLI_LOGIN_PATH, (req, res) => {
    const params = loginParams(req.query);
    if (typeof params === 'string') return void plain(res, 400, params);
    const idp = chooseIdp(req.query.idp, deps.idpIds);
    if ('error' in idp) return void plain(res, 400, idp.error);
    const returnTo = `${CLI_FINISH_PATH}?${new URLSearchParams({ port: String(params.port), state: params.state, code_challenge: params.challenge, code_challenge_method: 'S256' })}`;
    res.redirect(302, `/auth/saml/${encodeURIComponent(idp.id)}/login?returnTo=${encodeURIComponent(returnTo)}`);
  });

  router.get(CLI_FINISH_PATH, async (req, res) => {
    const params = loginParams(req.query);
    if (typeof params === 'string') return void plain(res, 400, params);
    try {
      const credential = deps.authenticator.presented(req.headers);
      if (credential?.kind !== 'cookie') return void plain(res, 401, 'Not signed in: run `portcullis login` again.');
      const principal = await deps.authenticator.resolve(credential);
      const code = await deps.cliLogin.issueCode(principal!, params.challenge);
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(302, `http://127.0.0.1:${params.port}/callback?${new URLSearchParams({ code, state: params.state })}`);
    } catch (error) {
      const failure = describeFailure(deps.logger, error);
      plain(res, failure.status, `Sign-in for the CLI failed: ${failure.message}`);
    }
  });

  router.post(CLI_TOKEN_PATH, express.json({ limit: '4kb' }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      const { token, record } = await deps.cliLogin.exchange({ code: body.code, verifier: body.code_verifier, name: body.name });
      res.setHeader('Cache-Control', 'no-store');
      res.json({ token, tokenId: record.id, expiresAt: new Date(record.expiresAt).toISOString(), user: { email: record.user.email, idp: record.user.idp } });
    } catch (error) {
      const failure = describeFailure(deps.logger, error);
      res.status(failure.status).json({ error: failure.code, message: failure.message });
    }
  });

  return router;
}

function loginParams(query: Record<string, unknown>): LoginParams | string {
  const { port, state, code_challenge: challenge, code_challenge_method: method } = query;
  if (typeof port !== 'string' || !PORT.test(port) || Number(port) > 65535) return 'port must be the CLI listener port (1024-65535)';
  if (typeof state !== 'string' || !STATE.test(state)) return 'state must be 16 to 128 base64url characters';
  if (method !== 'S256' || !CliLoginService.isChallenge(challenge)) return 'code_challenge must be a PKCE S256 challenge (code_challenge_method=S256)';
  return { port: Number(port), state, challenge };
}

function chooseIdp(value: unknown, idpIds: readonly string[]): { id: string } | { error: string } {
  if (value === undefined && idpIds.length === 1) return { id: idpIds[0]! };
  if (typeof value === 'string' && idpIds.includes(value)) return { id: value };
  return { error: `choose an identity provider (portcullis login --idp ID): ${idpIds.join(', ')}` };
}

const STATUS: Partial<Record<PortcullisError['code'], number>> = { INVALID_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, STORE_UNAVAILABLE: 503 };

/** Typed errors keep their code and message; anything else is a bare 500 (details only in the log). */
function describeFailure(logger: Logger, error: unknown): { status: number; code: string; message: string } {
  const status = error instanceof PortcullisError ? STATUS[error.code] : undefined;
  if (status !== undefined) return { status, code: (error as PortcullisError).code, message: (error as PortcullisError).message };
  logger.error({ err: error }, 'CLI login failed');
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

function plain(res: Response, status: number, message: string): void {
  res.status(status).type('text/plain').send(message);
}
