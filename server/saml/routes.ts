import { MultiSamlStrategy } from '@node-saml/passport-saml';
import type { PassportSamlConfig, VerifyWithRequest } from '@node-saml/passport-saml';
import express, { Router } from 'express';
import type { Request } from 'express';
import { Passport } from 'passport';
import type { Clock } from '../clock.js';
import { failClosed } from '../http/fail-closed.js';
import { safeReturnTo } from '../http/return-to.js';
import { bearerChallenge } from '../http/www-authenticate.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { Logger } from '../log.js';
import type { OneTimeValueStore } from '../stores/types.js';
import { AssertionConsumer, REQUEST_ID_TTL_MS } from './assertion-consumer.js';
import { SamlBrowserBinding } from './browser-binding.js';
import type { IdentityProvider } from './identity-providers.js';
import type { IdpTrustSource } from './idp-trust.js';
import { StoreRequestIdCache } from './request-id-cache.js';
import type { SamlSignIn } from './saml-sign-in.js';
import { SamlRejection } from './refusal.js';
import { sendRefusalPage } from './refusal-page.js';
import type { ServiceProviderKeys } from './sp-keys.js';
import { offersSingleLogout } from './single-logout.js';
import { completedSpMetadata } from './sp-metadata.js';
import { spUrls } from './sp-urls.js';

const STRATEGY = 'saml';

/**
 * `/auth/saml/:idp/{login,acs,metadata}` (sign-out: single-logout.ts). The login start and
 * the SP metadata come from passport's MultiSamlStrategy (one strategy, options chosen per
 * IdP on each request); responses are consumed by assertion-consumer.ts, never by the library.
 */
export function samlRoutes(deps: {
  idps: ReadonlyMap<string, IdentityProvider>;
  /** The IdPs' current entry points and certificates (static, or from their metadata). */
  trust: IdpTrustSource;
  spKeys: ServiceProviderKeys;
  signIn: SamlSignIn;
  requestIds: OneTimeValueStore;
  cookie: SessionCookie;
  clock: Clock;
  publicUrl: string;
  logger: Logger;
}): Router {
  // One view of the IdP per request: a metadata refresh mid-request does not mix two.
  const resolved = new WeakMap<Request, IdentityProvider | null>();
  const configuredIdp = (req: Request) => deps.idps.get(String(req.params.idp));
  const idpOf = (req: Request): IdentityProvider | undefined => {
    if (!resolved.has(req)) {
      const idp = configuredIdp(req);
      const trust = idp && deps.trust.current(idp);
      resolved.set(req, idp && trust ? { ...idp, ...trust } : null);
    }
    return resolved.get(req) ?? undefined;
  };
  const signing = deps.spKeys.signing;
  const consumer = new AssertionConsumer(deps);
  const binding = new SamlBrowserBinding(deps.publicUrl);
  // The login start's browser, for the request id node-saml saves while it builds the request.
  const browsers = new WeakMap<Request, string>();

  const optionsFor = (req: Request): Partial<PassportSamlConfig> => {
    const idp = idpOf(req)!;
    return {
      // With a key, AuthnRequests are signed (HTTP-Redirect binding, RSA-SHA256) and the
      // metadata says so; every key is published for encryption (sp-metadata.ts), which
      // node-saml does only when it holds a decryption key.
      ...(signing ? { privateKey: signing.privateKey, publicCert: signing.certificate, decryptionPvk: signing.privateKey } : {}),
      entryPoint: idp.entryPoint,
      issuer: idp.spEntityId,
      callbackUrl: spUrls(deps.publicUrl, idp.id).acs,
      idpCert: idp.idpCert,
      // node-saml saves each AuthnRequest id in the shared store only when it is to check
      // InResponseTo ('never', its default, saves none): the ACS takes it back.
      validateInResponseTo: (idp.idpInitiatedSignIn?.enabled ? 'ifPresent' : 'always') as PassportSamlConfig['validateInResponseTo'],
      cacheProvider: new StoreRequestIdCache(deps.requestIds, 'login', idp.id, deps.clock, REQUEST_ID_TTL_MS, browsers.get(req)),
      // Published in the metadata (WantAssertionsSigned); the ACS enforces it.
      wantAssertionsSigned: idp.requireSignedAssertions === true,
      identifierFormat: null,
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
      passReqToCallback: true,
      // Publishes our SingleLogoutService in the metadata (node-saml names the HTTP-POST binding).
      logoutCallbackUrl: offersSingleLogout(idp, deps.spKeys) ? spUrls(deps.publicUrl, idp.id).slo : undefined,
    };
  };

  const strategy = new MultiSamlStrategy(
    {
      passReqToCallback: true,
      // passport-saml bundles its own @types/express (v4): its Request is ours at run time.
      getSamlOptions: (req, done) => done(null, optionsFor(req as unknown as Request)),
    },
    // Responses (assertion-consumer.ts) and Single Logout (single-logout.ts) are served with
    // the checks node-saml leaves out, never through passport.
    (_req, _profile, done) => done(new Error('SAML responses are not consumed here')),
    (_req, _profile, done) => done(new Error('single logout is not served here')),
  );
  const passport = new Passport();
  passport.use(STRATEGY, strategy as unknown as Parameters<typeof passport.use>[1]);

  const router = Router();
  const requireIdp: express.RequestHandler = (req, res, next) => {
    if (!configuredIdp(req)) return void res.status(404).type('text/plain').send('unknown identity provider');
    if (idpOf(req) || req.method === 'POST') return next();
    res.status(503).type('text/plain').send('The identity provider is unavailable: its metadata could not be fetched yet. Try again shortly.');
  };

  router.get('/auth/saml/:idp/login', requireIdp, (req, res, next) => {
    if (carriesSamlMessage(req)) return void res.status(400).type('text/plain').send('This endpoint starts a sign-in; it takes no SAML message.');
    const returnTo = safeReturnTo(req.query.returnTo) ?? '/';
    const { browser, setCookie } = binding.begin(req.headers);
    browsers.set(req, browser);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Set-Cookie', setCookie);
    // additionalParams is passport-saml's option: node-saml puts it on the redirect URL.
    passport.authenticate(STRATEGY, { session: false, additionalParams: { RelayState: returnTo } } as Parameters<typeof passport.authenticate>[1], (error: unknown) => {
      if (error) failClosed(res, deps.logger, error);
    })(req, res, next);
  });

  router.post('/auth/saml/:idp/acs', requireIdp, express.urlencoded({ extended: false, limit: '512kb', parameterLimit: 10 }), (req, res) => {
    const idp = configuredIdp(req)!;
    const refuse = (error: SamlRejection) => {
      // The code is audited; which rule refused, for an operator, only at debug.
      deps.logger.debug({ idp: idp.id, reason: error.code, detail: error.detail }, 'SAML response refused');
      deps.signIn.refused(idp.id, error.code, req.ip).then(
        // A 401 names its scheme (RFC 7235 §3.1): the broker's credentials are bearer ones.
        () => sendRefusalPage(res.setHeader('WWW-Authenticate', bearerChallenge(null)), error.code, spUrls(deps.publicUrl, idp.id), 'acs'),
        (auditError: unknown) => failClosed(res, deps.logger, auditError),
      );
    };
    // Only the HTTP-POST binding: a SAMLRequest or SAMLResponse in the query (HTTP-Redirect)
    // would be inflated and parsed before any bound applied.
    if (carriesSamlMessage(req)) return void refuse(new SamlRejection('redirect_binding'));
    const body = req.body as Record<string, unknown> | undefined;
    consumer.consume(idp, body?.SAMLResponse, binding.poster(req.headers), req.ip).then(
      (outcome) => {
        const finished = outcome.initiatedBy === 'sp' ? binding.finished(req.headers) : undefined;
        res.setHeader('Set-Cookie', [deps.cookie.set(outcome.cookieValue, outcome.expiresAt), ...(finished === undefined ? [] : [finished])]);
        const fallback = outcome.initiatedBy === 'idp' ? (idp.idpInitiatedSignIn?.returnTo ?? '/') : '/';
        res.redirect(303, safeReturnTo(body?.RelayState) ?? fallback);
      },
      (error: unknown) => (error instanceof SamlRejection ? refuse(error) : failClosed(res, deps.logger, error)),
    );
  });

  router.get('/auth/saml/:idp/metadata', requireIdp, (req, res) => {
    const certificates = deps.spKeys.all.map((k) => k.certificate);
    strategy.generateServiceProviderMetadata(req as unknown as Parameters<VerifyWithRequest>[0], certificates[0] ?? null, certificates, (error, metadata) => {
      if (error || !metadata) return failClosed(res, deps.logger, error);
      res.type('application/samlmetadata+xml').send(completedSpMetadata(metadata, certificates));
    });
  });

  return router;
}

/** A SAML message in the query string: the HTTP-Redirect binding, which we never accept. */
function carriesSamlMessage(req: Request): boolean {
  return req.query.SAMLRequest !== undefined || req.query.SAMLResponse !== undefined;
}
