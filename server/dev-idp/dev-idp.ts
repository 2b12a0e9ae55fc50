import { inflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import express, { Router } from 'express';
import type { Request } from 'express';
import { generate } from 'selfsigned';
import { DEV_IDP_ID } from '../config/schema.js';
import { sendAutoPost } from '../http/auto-post-page.js';
import { html, sendPage } from '../http/html-page.js';
import { isLoopbackHost } from '../http/loopback-host.js';
import { unmappedAddress } from '../http/client-address.js';
import { domainOf } from '../identity/email-domains.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { IdentityProvider } from '../saml/identity-providers.js';
import { spUrls } from '../saml/sp-urls.js';
import { exceededBound } from '../saml/xml-bounds.js';
import { buildResponseXml, encodeForPost, signElement } from './saml-response.js';
import type { SigningKey } from './saml-response.js';

type DevUser = NonNullable<PortcullisConfig['devIdp']>['users'][number];

export interface DevIdp {
  identityProvider: IdentityProvider;
  router: Router;
}

/**
 * A development SAML IdP served by the broker itself, for the demo and local work: a
 * page to pick a demo user, then a response signed with a key generated at start, posted
 * to the same ACS a real IdP uses (so every check runs). Never built in production.
 */
export async function createDevIdp(options: { publicUrl: string; users: readonly DevUser[] }): Promise<DevIdp> {
  const base = `${options.publicUrl.replace(/\/+$/, '')}/dev-idp`;
  const pems = await generate([{ name: 'commonName', value: 'Portcullis development IdP' }], { keySize: 2048, algorithm: 'sha256' });
  const key: SigningKey = { privateKey: pems.private, cert: pems.cert };
  const identityProvider: IdentityProvider = {
    id: DEV_IDP_ID,
    displayName: 'Development IdP (demo users)',
    entryPoint: `${base}/sso`,
    idpIssuer: base,
    idpCert: [key.cert],
    spEntityId: `${options.publicUrl.replace(/\/+$/, '')}/saml/${DEV_IDP_ID}`,
    // It vouches only for its own demo users, so for their domains only (as the config checks).
    emailDomains: [...new Set(options.users.map((u) => domainOf(u.email)))],
    attributes: { email: 'email', displayName: 'displayName', groups: 'groups' },
    clockSkewSeconds: 60,
    requireEncryptedAssertions: false,
  };
  const acs = spUrls(options.publicUrl, DEV_IDP_ID).acs;

  const router = Router();
  router.use('/dev-idp', (req, res, next) => {
    if (fromThisMachine(req)) return next();
    res.status(403).type('text/plain').send('The development IdP answers only this machine.');
  });
  router.get('/dev-idp/sso', (req, res) => {
    const requestId = authnRequestId(req.query.SAMLRequest);
    if (!requestId) return void res.status(400).type('text/plain').send('missing or invalid SAMLRequest');
    const relayState = typeof req.query.RelayState === 'string' ? req.query.RelayState : '';
    sendPage(
      res,
      'Sign in as a demo user',
      `<h1>Development IdP</h1><p>Pick a demo user. This IdP exists only in development.</p><ul class="choices">${options.users
        .map(
          (u) =>
            `<li><form method="post" action="${base}/sso"><input type="hidden" name="requestId" value="${html(requestId)}"><input type="hidden" name="RelayState" value="${html(relayState)}"><input type="hidden" name="nameId" value="${html(u.nameId)}"><button type="submit" class="button">${html(u.displayName)} &lt;${html(u.email)}&gt; (${html(u.groups.join(', ') || 'no groups')})</button></form></li>`,
        )
        .join('')}</ul>`,
      { formTargets: [new URL(base).origin] },
    );
  });

  router.post('/dev-idp/sso', express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 5 }), (req, res) => {
    const body = req.body as Record<string, unknown>;
    const user = options.users.find((u) => u.nameId === body.nameId);
    if (!user || typeof body.requestId !== 'string') return void res.status(400).type('text/plain').send('unknown demo user');
    const xml = signElement(
      buildResponseXml({
        issuer: identityProvider.idpIssuer,
        destination: acs,
        recipient: acs,
        audience: identityProvider.spEntityId,
        inResponseTo: body.requestId,
        nameId: user.nameId,
        attributes: { email: user.email, displayName: user.displayName, groups: user.groups },
      }),
      'Assertion',
      key,
    );
    const relayState = typeof body.RelayState === 'string' ? body.RelayState : '';
    sendAutoPost(res, { title: 'Signing in', action: acs, fields: { SAMLResponse: encodeForPost(xml), RelayState: relayState }, button: 'Continue to Portcullis' });
  });

  return { identityProvider, router };
}

/**
 * The config keeps the broker on a loopback address while the dev IdP is on, but it signs
 * in as any demo user whoever asks: should the port be reachable anyway (a local reverse
 * proxy, a port forward), it answers only connections from this machine that no proxy
 * says it relayed for another. The socket's address, not a forwarded one, is the
 * evidence; X-Forwarded-For can only refuse (a client that writes 127.0.0.1 there still
 * has the proxy append its own address). A proxy that adds nothing cannot be told apart.
 */
function fromThisMachine(req: Request): boolean {
  const relayedFor = String(req.headers['x-forwarded-for'] ?? '').split(',').map((hop) => hop.trim()).filter(Boolean);
  return [req.socket.remoteAddress ?? '', ...relayedFor].every((address) => isLoopbackHost(unmappedAddress(address)));
}

/**
 * node-saml's AuthnRequests are under a kilobyte with a dozen elements; anything past
 * these bounds is not one, and is refused before it is inflated further or parsed.
 */
const AUTHN_REQUEST_BYTES = 16 * 1024;
const AUTHN_REQUEST_BOUNDS = { maxElements: 64, maxDepth: 8, maxAttributesPerElement: 24, maxAttributes: 256 };

/** The ID of a deflated, base64 AuthnRequest (HTTP-Redirect binding), or null. */
function authnRequestId(samlRequest: unknown): string | null {
  if (typeof samlRequest !== 'string' || samlRequest.length > 8192) return null;
  try {
    const xml = inflateRawSync(Buffer.from(samlRequest, 'base64'), { maxOutputLength: AUTHN_REQUEST_BYTES }).toString('utf8');
    if (exceededBound(xml, AUTHN_REQUEST_BOUNDS)) return null;
    const root = new DOMParser({ errorHandler: { warning: () => {}, error: () => {}, fatalError: () => {} } }).parseFromString(xml, 'text/xml').documentElement;
    const id = root?.localName === 'AuthnRequest' ? root.getAttribute('ID') : null;
    return id && /^[A-Za-z_][\w.-]{0,127}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}
