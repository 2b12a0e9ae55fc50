import { SAML } from '@node-saml/node-saml';
import type { Profile } from '@node-saml/node-saml';
import { signSamlPost } from '@node-saml/node-saml/lib/saml-post-signing.js';
import express, { Router } from 'express';
import type { Request, Response } from 'express';
import { clientAddressData } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { StoreFullError, StoreUnavailableError } from '../errors.js';
import { sendAutoPost } from '../http/auto-post-page.js';
import { SIGN_IN_PATH } from '../http/console-routes.js';
import { requireOwnOrigin } from '../http/same-origin.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { LoginSessionService } from '../identity/login-sessions.js';
import type { Logger } from '../log.js';
import type { AssertionReplayCache, LoginSession, OneTimeValueStore } from '../stores/types.js';
import type { IdentityProvider } from './identity-providers.js';
import { MAX_MESSAGE_AGE_MS, readPostMessage, readRedirectMessage } from './logout-message.js';
import type { LogoutExpectations, LogoutMessage, LogoutRequestMessage } from './logout-message.js';
import { SamlRejection } from './refusal.js';
import type { IdpTrustSource } from './idp-trust.js';
import type { RefusalCode } from './refusal.js';
import { sendRefusalPage } from './refusal-page.js';
import { StoreRequestIdCache } from './request-id-cache.js';
import type { ServiceProviderKey, ServiceProviderKeys } from './sp-keys.js';
import { spUrls } from './sp-urls.js';
import { CertificateKeys } from './xml-signature.js';

/** How long the IdP may take to answer our LogoutRequest before its id is forgotten. */
const LOGOUT_REQUEST_TTL_MS = 10 * 60_000;
const UNSPECIFIED_NAME_ID = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const LOGOUT_RESPONSE_XPATH = '/*[local-name(.)="LogoutResponse" and namespace-uri(.)="urn:oasis:names:tc:SAML:2.0:protocol"]';

/** An IdP offers Single Logout when it names its endpoint and we hold a key to sign with (the config refuses one without the other). */
export function offersSingleLogout(idp: IdentityProvider, spKeys: ServiceProviderKeys): boolean {
  return idp.singleLogoutUrl !== undefined && spKeys.signing !== null;
}

/**
 * Sign-out: `POST /auth/logout` (ours, SP-initiated) and `/auth/saml/:idp/slo`, the SAML
 * SingleLogoutService in both bindings (SAML Profiles §4.4). Signing out here ends the
 * broker session first, whatever the IdP answers later; a LogoutRequest from the IdP ends
 * every session it names, with the OAuth authorizations they approved.
 */
export function singleLogoutRoutes(deps: {
  idps: ReadonlyMap<string, IdentityProvider>;
  /** The IdP's current issuer and certificates (pinned, or from its metadata). */
  trust: Pick<IdpTrustSource, 'current'>;
  spKeys: ServiceProviderKeys;
  sessions: LoginSessionService;
  /** Ends what a sign-in approved beside itself (OAuth authorizations). */
  endDerived: (session: LoginSession) => Promise<void>;
  /** Our pending LogoutRequest ids (the SAML request-id store, in a namespace of their own). */
  requestIds: OneTimeValueStore;
  replay: AssertionReplayCache;
  audit: AuditLog;
  cookie: SessionCookie;
  clock: Clock;
  publicUrl: string;
  logger: Logger;
}): Router {
  const router = Router();
  const certificates = new CertificateKeys();
  const offering = (idpId: string) => {
    const configured = deps.idps.get(idpId);
    const trust = configured && deps.trust.current(configured);
    const idp = configured && trust ? { ...configured, ...trust } : undefined;
    const key = deps.spKeys.signing;
    return idp && key && offersSingleLogout(idp, deps.spKeys) ? { idp, key } : null;
  };
  // A namespace apart from AuthnRequest ids: a LogoutRequest id must never complete a sign-in.
  const pendingLogouts = (idp: IdentityProvider) => new StoreRequestIdCache(deps.requestIds, 'logout', idp.id, deps.clock, LOGOUT_REQUEST_TTL_MS);
  const samlFor = (idp: IdentityProvider, key: ServiceProviderKey) =>
    new SAML({
      entryPoint: idp.entryPoint,
      logoutUrl: idp.singleLogoutUrl!,
      issuer: idp.spEntityId,
      callbackUrl: spUrls(deps.publicUrl, idp.id).acs,
      idpCert: idp.idpCert,
      privateKey: key.privateKey,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      cacheProvider: pendingLogouts(idp),
    });

  router.post('/auth/logout', requireOwnOrigin(deps.publicUrl, 'Refused: sign out from a Portcullis page.'), (req, res) => {
    const cookie = deps.cookie.read(req.headers);
    // A caller that asks for JSON (the console) can follow the IdP's Single Logout: it gets 200 and
    // where to go. Everyone else gets the 204 as before (signed out here; the IdP is not told).
    const follows = (req.get('accept') ?? '').includes('application/json');
    const done = (redirect: string | null) => {
      res.setHeader('Set-Cookie', deps.cookie.clear());
      if (redirect === null) res.status(204).end();
      else res.status(200).json({ redirect });
    };
    if (cookie === undefined) return done(null);
    signOutHere(cookie, follows, req.ip).then(done, (error: unknown) => failed(res, deps.logger, error));
  });

  async function signOutHere(cookie: string, follows: boolean, client: string | undefined): Promise<string | null> {
    const session = await deps.sessions.end(cookie, client);
    if (!session) return null;
    await deps.endDerived(session);
    const slo = offering(session.user.idp);
    if (!follows || !slo || !session.saml) return null;
    const user = { nameID: session.user.nameId, nameIDFormat: session.saml.nameIdFormat ?? UNSPECIFIED_NAME_ID, ...(session.saml.sessionIndex ? { sessionIndex: session.saml.sessionIndex } : {}) };
    return samlFor(slo.idp, slo.key).getLogoutUrlAsync(user as Profile, '', {});
  }

  const slo = (binding: 'redirect' | 'post') => (req: Request, res: Response) => {
    const found = offering(String(req.params.idp));
    if (!found) return void res.status(404).type('text/plain').send('Single Logout is not offered for this identity provider.');
    const { idp, key } = found;
    const expected: LogoutExpectations = {
      idpIssuer: idp.idpIssuer,
      idpKeys: certificates.of(idp.idpCert),
      destination: spUrls(deps.publicUrl, idp.id).slo,
      nowMs: deps.clock.now(),
      skewMs: idp.clockSkewSeconds * 1000,
    };
    let message: LogoutMessage;
    try {
      message = binding === 'redirect' ? readRedirectMessage(req.originalUrl.split('?')[1] ?? '', expected) : readPostMessage(req.body as Record<string, unknown> | undefined, expected);
    } catch (error) {
      if (!(error instanceof SamlRejection)) return failed(res, deps.logger, error);
      return void refuse(req, res, idp, error.code);
    }
    const handled = message.kind === 'request' ? answerLogoutRequest(req, res, idp, key, message, expected) : finishOurLogout(res, idp, message.inResponseTo, message.success);
    handled.catch((error: unknown) => (error instanceof SamlRejection ? refuse(req, res, idp, error.code) : failed(res, deps.logger, error)));
  };

  async function answerLogoutRequest(req: Request, res: Response, idp: IdentityProvider, key: ServiceProviderKey, message: LogoutRequestMessage, expected: LogoutExpectations): Promise<void> {
    // node-saml keeps no record of LogoutRequests seen: a captured one, replayed, would sign the user out again and again.
    if (!(await deps.replay.consume(`${idp.id}:logout:${message.id}`, message.issuedAt + MAX_MESSAGE_AGE_MS + 2 * expected.skewMs))) throw new SamlRejection('replay');
    const ended = await deps.sessions.endSignedOutAtIdp({ id: `${idp.id}:${message.nameId}`, idp: idp.id }, message.sessionIndexes, req.ip);
    for (const session of ended) await deps.endDerived(session);
    deps.logger.info({ idp: idp.id, sessions: ended.length }, 'signed out at the IdP');
    // Success whether or not a session was live here: the principal is signed out of this SP either way (Profiles §4.4.4.2).
    const saml = samlFor(idp, key);
    if (message.binding === 'redirect') return void res.redirect(302, await saml.getLogoutResponseUrlAsync({ ID: message.id } as Profile, message.relayState ?? '', {}, true));
    const signed = signSamlPost(saml._generateLogoutResponse({ ID: message.id } as Profile, true), LOGOUT_RESPONSE_XPATH, { privateKey: key.privateKey, signatureAlgorithm: 'sha256', digestAlgorithm: 'sha256' });
    sendAutoPost(res.setHeader('Cache-Control', 'no-store'), {
      title: 'Signing out',
      action: idp.singleLogoutUrl!,
      fields: { SAMLResponse: Buffer.from(signed, 'utf8').toString('base64'), ...(message.relayState === null ? {} : { RelayState: message.relayState }) },
      button: 'Continue signing out',
    });
  }

  /** The IdP's answer to our LogoutRequest: the broker session ended already; this only closes the round trip. */
  async function finishOurLogout(res: Response, idp: IdentityProvider, inResponseTo: string, success: boolean): Promise<void> {
    if ((await pendingLogouts(idp).removeAsync(inResponseTo)) === null) throw new SamlRejection('in_response_to_unknown');
    if (!success) throw new SamlRejection('idp_error_status');
    res.redirect(303, SIGN_IN_PATH);
  }

  function refuse(req: Request, res: Response, idp: IdentityProvider, code: RefusalCode): void {
    deps.audit.append({ type: 'auth.logout', outcome: 'DENIED', actor: null, data: { idp: idp.id, reason: code, ...clientAddressData(req.ip) } }).then(
      () => sendRefusalPage(res, code, spUrls(deps.publicUrl, idp.id), 'slo'),
      (error: unknown) => failed(res, deps.logger, error),
    );
  }

  router.get('/auth/saml/:idp/slo', slo('redirect'));
  router.post('/auth/saml/:idp/slo', express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 10 }), slo('post'));
  return router;
}

/** The store (or something else we depend on) failed: nothing is answered as if it had worked. */
function failed(res: Response, logger: Logger, error: unknown): void {
  const unavailable = error instanceof StoreUnavailableError || error instanceof StoreFullError;
  if (unavailable) logger.warn({ err: error }, 'sign-out failed: the store is unavailable or full');
  else logger.error({ err: error }, 'sign-out failed');
  if (res.headersSent) return;
  if (unavailable) res.status(503).type('text/plain').send('Sign-out could not be completed: try again shortly.');
  else res.status(500).type('text/plain').send('Internal error.');
}
