import express, { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { PortcullisError } from '../errors.js';
import type { Authenticator } from '../identity/authenticate.js';
import type { Principal } from '../identity/principal.js';
import type { Logger } from '../log.js';
import type { OAuthAuthorization, AuthorizationRequest } from '../oauth/authorization.js';
import type { OAuthClients } from '../oauth/clients.js';
import { authorizationServerMetadata, OAUTH_PATHS, protectedResourceMetadata } from '../oauth/metadata.js';
import { OAuthError } from '../oauth/oauth-error.js';
import { formActionSource, skipsRepeatConsent } from '../oauth/redirect-uris.js';
import type { McpResources } from '../oauth/resources.js';
import type { OAuthTokens } from '../oauth/tokens.js';
import { html, sendPage } from './html-page.js';
import { requireOwnOrigin } from './same-origin.js';
import { loginPath } from './login-path.js';
import { sendSignInPage } from './sign-in-page.js';
import type { SignInChoice } from './sign-in-page.js';

const AUTHORIZE_FIELDS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'resource'] as const;
const FORM = bodyOr(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }), new OAuthError('invalid_request', 'the request body is not a small form'));
const JSON_BODY = bodyOr(express.json({ limit: '16kb' }), new OAuthError('invalid_client_metadata', 'the request body is not valid JSON'));

/** A body parser whose failure is answered in the protocol's own terms. */
function bodyOr(parser: RequestHandler, refusal: OAuthError): RequestHandler {
  return (req, res, next) =>
    parser(req, res, (error?: unknown) => {
      if (error === undefined) return next();
      res.set('Cache-Control', 'no-store').status(refusal.status).json(refusal.toJSON());
    });
}

export interface OAuthRouteDeps {
  issuer: string;
  publicUrl: string;
  idps: readonly SignInChoice[];
  resources: McpResources;
  clients: OAuthClients;
  authorization: OAuthAuthorization;
  tokens: OAuthTokens;
  authenticator: Authenticator;
  logger: Logger;
}

/**
 * The broker as OAuth 2.1 authorization server and protected resource (docs/oauth.md):
 * metadata (RFC 8414, RFC 9728), the authorization endpoint with SAML sign-in and consent,
 * token, registration (RFC 7591) and revocation (RFC 7009) endpoints.
 */
export function oauthRoutes(deps: OAuthRouteDeps): Router {
  const router = Router();
  const asMetadata = authorizationServerMetadata(deps.issuer);
  const metadata = (document: Record<string, unknown>): RequestHandler => (_req, res) => void res.set('Cache-Control', 'public, max-age=300').json(document);

  // Metadata and the client-facing endpoints are read by browser-based clients too; no cookie is involved.
  router.use(['/.well-known', OAUTH_PATHS.token, OAUTH_PATHS.register, OAUTH_PATHS.revoke, OAUTH_PATHS.jwks], openCors);
  // Root and path-inserted forms: clients differ on which they probe (RFC 8414 §3.1, OIDC Discovery §4).
  router.get(['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/*rest', '/.well-known/openid-configuration', '/.well-known/openid-configuration/*rest'], metadata(asMetadata));
  router.get('/.well-known/oauth-protected-resource', metadata(protectedResourceMetadata(deps.resources.federated, deps.issuer, deps.resources)));
  router.get('/.well-known/oauth-protected-resource/*rest', (req, res) => {
    // RFC 9728 §3.1: the resource's path follows the well-known prefix, on the resource's origin.
    const resource = deps.resources.canonical(`${new URL(deps.issuer).origin}${req.path.slice('/.well-known/oauth-protected-resource'.length)}`);
    if (!resource) return void res.status(404).json({ error: 'not found' });
    metadata(protectedResourceMetadata(resource, deps.issuer, deps.resources))(req, res, () => {});
  });
  router.get(OAUTH_PATHS.jwks, metadata({ keys: [] }));

  router.get(OAUTH_PATHS.authorize, async (req, res) => {
    const parsed = await parseOrAnswer(deps, res, req.query, req.ip);
    if (!parsed) return;
    const principal = await browserPrincipal(deps, req);
    if (!principal) return signIn(deps, req, res);
    const before = await deps.authorization.remembered(principal, parsed);
    // For a redirect that does not skip the page, it says it was allowed before.
    if (before && skipsRepeatConsent(parsed.redirectUri)) return void redirect(res, await deps.authorization.approved(principal, parsed), 302);
    consentPage(res, principal, parsed, before);
  });

  router.post(OAUTH_PATHS.authorize, requireOwnOrigin(deps.publicUrl, 'Refused: this approval did not come from the Portcullis consent page.'), FORM, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = await parseOrAnswer(deps, res, body, req.ip);
    if (!parsed) return;
    const principal = await browserPrincipal(deps, req);
    if (!principal) return void errorPage(res, 401, 'Not signed in: start again from your MCP client.');
    redirect(res, await deps.authorization.decide(principal, parsed, body.decision === 'allow'), 303);
  });

  router.post(OAUTH_PATHS.token, FORM, endpoint(deps, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.client_secret !== undefined || req.headers.authorization !== undefined) throw new OAuthError('invalid_client', 'clients here are public: authenticate with client_id only (token_endpoint_auth_method none)');
    if (typeof body.client_id !== 'string') throw new OAuthError('invalid_client', 'client_id is missing');
    const client = await deps.clients.find(body.client_id, req.ip);
    if (body.grant_type === 'authorization_code') {
      const tokens = await deps.tokens.exchangeCode(client, body, req.ip);
      await deps.clients.used(client);
      return void res.json(tokens);
    }
    if (body.grant_type === 'refresh_token') return void res.json(await deps.tokens.refresh(client, body, req.ip));
    throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
  }));

  router.post(OAUTH_PATHS.register, JSON_BODY, endpoint(deps, async (req, res) => {
    res.status(201).json(await deps.clients.register(req.body, req.ip));
  }));

  router.post(OAUTH_PATHS.revoke, FORM, endpoint(deps, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const client = await deps.clients.find(body.client_id, req.ip);
    await deps.tokens.revoke(client, body.token, req.ip);
    res.status(200).end();
  }));

  return router;
}

/** CORS for endpoints that take no cookie: any origin, no credentials. */
const openCors: RequestHandler = (req, res, next) => {
  res.set('Access-Control-Allow-Origin', '*');
  if (req.method !== 'OPTIONS') return next();
  res.set('Access-Control-Allow-Methods', 'GET, POST').set('Access-Control-Allow-Headers', 'Content-Type, Authorization, MCP-Protocol-Version').set('Access-Control-Max-Age', '600').status(204).end();
};

/** Token, registration and revocation answers: JSON, never cached, errors as the RFCs name them. */
function endpoint(deps: OAuthRouteDeps, handle: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return async (req, res) => {
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    try {
      await handle(req, res);
    } catch (error) {
      const oauth = asOAuthError(deps.logger, error);
      if (oauth.status === 401) res.set('WWW-Authenticate', 'Bearer realm="portcullis"');
      res.status(oauth.status).json(oauth.toJSON());
    }
  };
}

function asOAuthError(logger: Logger, error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof PortcullisError && (error.code === 'STORE_UNAVAILABLE' || error.code === 'STORE_FULL')) return new OAuthError('temporarily_unavailable', 'try again shortly');
  logger.error({ err: error }, 'OAuth endpoint failed');
  return new OAuthError('temporarily_unavailable', 'internal error');
}

/** The checked request, or null once an error page or error redirect was sent. */
async function parseOrAnswer(deps: OAuthRouteDeps, res: Response, params: Record<string, unknown>, address: string | undefined): Promise<AuthorizationRequest | null> {
  const only = Object.fromEntries(AUTHORIZE_FIELDS.filter((f) => typeof params[f] === 'string').map((f) => [f, params[f]]));
  try {
    const parsed = await deps.authorization.parse(only, address);
    if ('request' in parsed) return parsed.request;
    if ('redirect' in parsed) redirect(res, parsed.redirect, 302);
    else errorPage(res, parsed.fatal.status === 401 ? 400 : parsed.fatal.status, `The application's sign-in request was refused (${parsed.fatal.error}): ${parsed.fatal.description}.`);
  } catch (error) {
    const oauth = asOAuthError(deps.logger, error);
    errorPage(res, oauth.status, `Sign-in is unavailable: ${oauth.description}.`);
  }
  return null;
}

async function browserPrincipal(deps: OAuthRouteDeps, req: Request): Promise<Principal | null> {
  try {
    return await deps.authenticator.browserPrincipal(req.headers, req.ip);
  } catch {
    return null;
  }
}

/** Off to the sign-in, which comes back to this very request. */
function signIn(deps: OAuthRouteDeps, req: Request, res: Response): void {
  const returnTo = `${OAUTH_PATHS.authorize}?${new URLSearchParams(req.query as Record<string, string>)}`;
  if (deps.idps.length === 1) return void res.redirect(302, loginPath(deps.idps[0]!, returnTo));
  sendSignInPage(res, deps.idps, returnTo);
}

/**
 * The consent page: who asks (name and client id), where the code goes, for which MCP
 * endpoint. Framing is refused (clickjacking) and the form may go only back to us, and
 * from there to this client's redirect.
 */
function consentPage(res: Response, principal: Principal, request: AuthorizationRequest, allowedBefore: boolean): void {
  res.set('Cache-Control', 'no-store');
  const fields: Record<string, string> = {
    response_type: 'code',
    client_id: request.client.clientId,
    redirect_uri: request.redirectUri,
    code_challenge: request.challenge,
    code_challenge_method: 'S256',
    scope: request.scope,
    resource: request.resource,
    ...(request.state !== undefined ? { state: request.state } : {}),
  };
  const hidden = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${html(value)}">`).join('');
  const how = request.client.registration === 'cimd' ? 'its metadata document at this address' : 'registration with this broker';
  sendPage(
    res,
    'Allow access to MCP servers?',
    `<h1>Allow <strong>${html(request.client.clientName)}</strong> to use Portcullis as ${html(principal.user.email)}?</h1>` +
      // The name is whatever the application says it is; the client id and redirect are what bind it.
      `<dl><dt>Application (its own name for itself)</dt><dd>${html(request.client.clientName)}</dd>` +
      `<dt>Client id (${how})</dt><dd><code>${html(request.client.clientId)}</code></dd>` +
      `<dt>Sends you back to</dt><dd><code>${html(request.redirectUri)}</code></dd>` +
      `<dt>MCP endpoint</dt><dd><code>${html(request.resource)}</code></dd>` +
      `<dt>Access</dt><dd>your granted MCP tools there (scope <code>${html(request.scope)}</code>), while your sign-in lasts</dd></dl>` +
      (allowedBefore ? `<p>You allowed this application here before. A program on your computer can claim its name and address, so you are asked each time it signs in again.</p>` : '') +
      `<p>Allow it only if you just connected this application.</p>` +
      `<form method="post" action="${OAUTH_PATHS.authorize}" class="actions">${hidden}<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny" class="button-secondary">Deny</button></form>`,
    { formTargets: [formActionSource(request.redirectUri)] },
  );
}

function redirect(res: Response, location: URL, status: 302 | 303): void {
  res.set('Cache-Control', 'no-store');
  res.set('Content-Security-Policy', `default-src 'none'; form-action 'self' ${formActionSource(location.href)}`);
  res.redirect(status, location.href);
}

function errorPage(res: Response, status: number, message: string): void {
  sendPage(res, 'Sign-in refused', `<h1>Sign-in refused</h1><p>${html(message)}</p>`, { status });
}
