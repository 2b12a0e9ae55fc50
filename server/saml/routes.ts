import { MultiSamlStrategy } from '@node-saml/passport-saml';
import type { PassportSamlConfig, VerifyWithRequest } from '@node-saml/passport-saml';
import express, { Router } from 'express';
import type { Request } from 'express';
import { Passport } from 'passport';
import type { Clock } from '../clock.js';
import { PortcullisError } from '../errors.js';
import { failClosed } from '../http/fail-closed.js';
import { safeReturnTo } from '../http/return-to.js';
import { bearerChallenge } from '../http/www-authenticate.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { Logger } from '../log.js';
import type { OneTimeValueStore } from '../stores/types.js';
import { decryptionKeyFor, opaqueRefusal } from './encrypted-assertion.js';
import type { Decryption } from './encrypted-assertion.js';
import type { IdentityProvider } from './identity-providers.js';
import type { IdpTrustSource } from './idp-trust.js';
import { StoreRequestIdCache } from './request-id-cache.js';
import type { SamlSignIn, SignInOutcome, Solicitation } from './saml-sign-in.js';
import { checkRawResponse } from './raw-response.js';
import { refusalOfLibraryError, SamlRejection } from './refusal.js';
import type { RefusalCode } from './refusal.js';
import { sendRefusalPage } from './refusal-page.js';
import type { ServiceProviderKeys } from './sp-keys.js';
import { offersSingleLogout } from './single-logout.js';
import { completedSpMetadata } from './sp-metadata.js';
import { spUrls } from './sp-urls.js';

/** How much of a library's refusal message the debug log keeps (it quotes the sender's input). */
const DETAIL_CHARS = 200;

/** How long a login may take at the IdP before its request id is forgotten. */
const REQUEST_ID_TTL_MS = 10 * 60_000;
const STRATEGY = 'saml';

/**
 * `/auth/saml/:idp/{login,acs,metadata}` (sign-out: single-logout.ts), on passport's
 * MultiSamlStrategy (one strategy, options chosen per IdP on each request).
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
  const requestCaches = new WeakMap<Request, StoreRequestIdCache>();
  // On the ACS: the key that opens this request's EncryptedAssertion (found before node-saml runs), or null for a plain one.
  const decryptions = new WeakMap<Request, Decryption | null>();
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

  const optionsFor = (req: Request): Partial<PassportSamlConfig> => {
    const idp = idpOf(req)!;
    const cache = new StoreRequestIdCache(deps.requestIds, idp.id, deps.clock, REQUEST_ID_TTL_MS);
    requestCaches.set(req, cache);
    // On the ACS node-saml decrypts with the key chosen here or none, never one we did not
    // choose; elsewhere the key only makes node-saml publish an encryption certificate.
    const decryptionKey = decryptions.has(req) ? decryptions.get(req)?.key : signing;
    return {
      // With a key, AuthnRequests are signed (HTTP-Redirect binding, RSA-SHA256) and the
      // metadata says so; every key is published for encryption (sp-metadata.ts).
      ...(signing ? { privateKey: signing.privateKey, publicCert: signing.certificate } : {}),
      ...(decryptionKey ? { decryptionPvk: decryptionKey.privateKey } : {}),
      entryPoint: idp.entryPoint,
      issuer: idp.spEntityId,
      callbackUrl: spUrls(deps.publicUrl, idp.id).acs,
      idpCert: idp.idpCert,
      idpIssuer: idp.idpIssuer,
      // node-saml's defaults are unsafe here (PITFALLS): explicit audience, InResponseTo
      // always checked against the shared cache, bounded skew. The IdP's signature covers
      // the assertion, on the assertion or on the Response around it (node-saml then reads
      // the assertion from the verified Response only), or on the assertion alone when
      // requireSignedAssertions.
      audience: idp.spEntityId,
      validateInResponseTo: (idp.idpInitiatedSignIn?.enabled ? 'ifPresent' : 'always') as PassportSamlConfig['validateInResponseTo'],
      requestIdExpirationPeriodMs: REQUEST_ID_TTL_MS,
      cacheProvider: cache,
      acceptedClockSkewMs: idp.clockSkewSeconds * 1000,
      wantAssertionsSigned: idp.requireSignedAssertions === true,
      wantAuthnResponseSigned: false,
      identifierFormat: null,
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
      passReqToCallback: true,
      // Publishes our SingleLogoutService in the metadata (node-saml names the HTTP-POST binding).
      logoutCallbackUrl: offersSingleLogout(idp, deps.spKeys) ? spUrls(deps.publicUrl, idp.id).slo : undefined,
    };
  };

  // passport-saml bundles its own @types/express (v4): its Request is ours at run time.
  const ours = (req: Parameters<VerifyWithRequest>[0]) => req as unknown as Request;
  const strategy = new MultiSamlStrategy(
    {
      passReqToCallback: true,
      getSamlOptions: (req, done) => done(null, optionsFor(ours(req))),
    },
    (samlReq, profile, done) => {
      const req = ours(samlReq);
      const idp = idpOf(req);
      if (!profile || !idp) return done(null, undefined, { code: 'assertion_missing' });
      const cache = requestCaches.get(req);
      // node-saml removes the request id only on some paths (not when the IdP leaves
      // InResponseTo off SubjectConfirmationData): make sure it is consumed, and by us.
      const solicitation = async (): Promise<Solicitation> => {
        if (cache?.consumed) return 'solicited';
        if (typeof profile.inResponseTo !== 'string') return 'unsolicited';
        return cache !== undefined && (await cache.removeAsync(profile.inResponseTo)) !== null ? 'solicited' : 'unknown';
      };
      deps.signIn.complete(idp, profile, solicitation, req.ip).then(
        (outcome) => done(null, { outcome }),
        (error: unknown) => (error instanceof SamlRejection ? done(null, undefined, { code: error.code }) : done(error as Error)),
      );
    },
    // Single Logout is served by single-logout.ts (with the checks node-saml leaves out), never through passport.
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
    // additionalParams is passport-saml's option: node-saml puts it on the redirect URL.
    passport.authenticate(STRATEGY, { session: false, additionalParams: { RelayState: returnTo } } as Parameters<typeof passport.authenticate>[1], (error: unknown) => {
      if (error) failClosed(res, deps.logger, error);
    })(req, res, next);
  });

  router.post('/auth/saml/:idp/acs', requireIdp, express.urlencoded({ extended: false, limit: '512kb', parameterLimit: 10 }), (req, res, next) => {
    const idpId = configuredIdp(req)!.id;
    // Null while a metadata-configured IdP has no trusted copy yet: refused below.
    const idp = idpOf(req);
    const refuse = (code: RefusalCode) =>
      deps.signIn.refused(idpId, code, req.ip).then(
        // A 401 names its scheme (RFC 7235 §3.1): the broker's credentials are bearer ones.
        () => sendRefusalPage(res.setHeader('WWW-Authenticate', bearerChallenge(null)), code, spUrls(deps.publicUrl, idpId), 'acs'),
        (auditError: unknown) => failClosed(res, deps.logger, auditError),
      );
    // passport-saml would take a SAMLRequest or SAMLResponse in the query (HTTP-Redirect
    // binding) before the body, inflating and parsing it with no bound at all.
    if (carriesSamlMessage(req)) return void refuse('redirect_binding');
    if (!idp) return void refuse('idp_unavailable');
    let response: Document | undefined;
    try {
      response = checkRawResponse((req.body as Record<string, unknown> | undefined)?.SAMLResponse);
      decryptions.set(req, decryptionKeyFor(response, deps.spKeys.all, idp.requireEncryptedAssertions));
    } catch (error) {
      if (!(error instanceof SamlRejection)) throw error;
      if (!response) return void refuse(error.code);
      // node-saml uses up the request a response names when it refuses it: so here too, or
      // whether a refusal came before node-saml or from it would show in that request still
      // pending (a CBC decryption oracle read from a second post naming it).
      const requestId = response.documentElement?.getAttribute('InResponseTo');
      const forgotten = requestId ? new StoreRequestIdCache(deps.requestIds, idp.id, deps.clock, REQUEST_ID_TTL_MS).removeAsync(requestId) : Promise.resolve(null);
      return void forgotten.then(() => refuse(error.code), (storeError: unknown) => failClosed(res, deps.logger, storeError));
    }
    const authenticate = (retried: boolean) =>
      passport.authenticate(STRATEGY, { session: false }, (error: unknown, user: { outcome: SignInOutcome } | false | undefined, info: { code?: RefusalCode } | undefined) => {
        if (error instanceof PortcullisError) return failClosed(res, deps.logger, error);
        if (error instanceof Error) {
          const code = refusalOfLibraryError(error);
          deps.logger.debug({ idp: idpId, reason: code, detail: error.message.slice(0, DETAIL_CHARS) }, 'SAML response refused by the library');
          const shown = opaqueRefusal(code, decryptions.get(req));
          if (code === 'signature_invalid' && !retried && idp.metadata) return void recheckAfterRefresh(req).then((again) => (again ? authenticate(true) : refuse(shown)), (e: unknown) => failClosed(res, deps.logger, e));
          return void refuse(shown);
        }
        if (!user) return void refuse(info?.code ?? 'refused');
        res.setHeader('Set-Cookie', deps.cookie.set(user.outcome.cookieValue, user.outcome.expiresAt));
        const fallback = user.outcome.initiatedBy === 'idp' ? (idp.idpInitiatedSignIn?.returnTo ?? '/') : '/';
        res.redirect(303, safeReturnTo((req.body as Record<string, unknown> | undefined)?.RelayState) ?? fallback);
      })(req, res, next);
    authenticate(false);
  });

  /**
   * The IdP may have rolled its key: refresh its metadata (at most once a minute, see
   * idp-trust.ts) and, only when its certificates changed, check this same response once
   * more against the new ones. Safe: node-saml took the request id on the failure, and the
   * cache instance that took it (so no other response has used it) puts it back for this
   * one retry; the assertion was never accepted, so the replay cache has not seen it; and
   * every check runs again in full.
   */
  const recheckAfterRefresh = async (req: Request): Promise<boolean> => {
    const idp = configuredIdp(req)!;
    if (!(await deps.trust.signatureFailed(idp))) return false;
    await requestCaches.get(req)?.restore();
    resolved.delete(req);
    return idpOf(req) !== undefined;
  };

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
