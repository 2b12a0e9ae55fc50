import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { encodeForPost } from '../../server/dev-idp/saml-response.js';
import { html } from '../../server/http/html-page.js';
import { decodeAuthnRequest } from './test-idp.js';
import { logoutResponseXml, readSignedRedirect, redirectQuery, spLogoutUrl } from './test-idp-logout.js';
import type { TestIdp } from './test-idp.js';

/** A person the test IdP can sign in: one button on its page. */
export interface TestIdpUser {
  /** What a test names the person by (the button's value): 'alice'. */
  label: string;
  email: string;
  displayName: string;
  groups: string[];
  /** The SAML NameID; the email unless given. */
  nameId?: string;
}

export interface TestIdpLoginPage {
  /** The IdP's SSO endpoint (HTTP-Redirect binding): the broker's entryPoint for it. */
  ssoUrl: string;
  /** The IdP's `identityProviders[]` entry with entryPoint at this page (and singleLogoutUrl, when it serves one). */
  config: Record<string, unknown>;
  /** The LogoutRequests the broker sent to this IdP, each verified with the SP's certificate. */
  logoutRequests: Element[];
  close(): Promise<void>;
}

const FORM_BYTES = 16 * 1024;

/**
 * The login page of the test IdP, on its own loopback port, so a real browser signs in
 * through real SAML: GET /sso takes the broker's AuthnRequest (HTTP-Redirect binding:
 * SAMLRequest and RelayState) and shows one button per user; the button's POST answers
 * with a form that posts the signed response to the broker's ACS (HTTP-POST binding),
 * submitted by a nonce'd script. The response answers the request's ID and is signed with
 * the IdP's key, so the broker runs every check it runs for a real IdP.
 */
export async function serveTestIdpLoginPage(idp: TestIdp, users: readonly TestIdpUser[], options: { singleLogout?: { spCert: string } } = {}): Promise<TestIdpLoginPage> {
  const logoutRequests: Element[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://idp.invalid');
    if (url.pathname === '/slo' && options.singleLogout && req.method === 'GET') return answerLogout(res, idp, url, options.singleLogout.spCert, logoutRequests);
    if (url.pathname !== '/sso') return answer(res, 404, 'text/plain', 'not found');
    if (req.method === 'GET') return chooseUser(res, idp, users, url.searchParams);
    if (req.method === 'POST') return void readForm(req).then((form) => postResponse(res, idp, users, form), () => answer(res, 400, 'text/plain', 'unreadable form'));
    answer(res, 405, 'text/plain', 'GET or POST');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ssoUrl = `${base}/sso`;
  return {
    ssoUrl,
    config: { ...idp.config, entryPoint: ssoUrl, ...(options.singleLogout ? { singleLogoutUrl: `${base}/slo` } : {}) },
    logoutRequests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * GET /slo: the broker's LogoutRequest (HTTP-Redirect), its signature checked with the
 * SP's certificate as an IdP checks it, answered with a signed LogoutResponse sent back
 * to the broker's SingleLogoutService in the same binding.
 */
function answerLogout(res: ServerResponse, idp: TestIdp, url: URL, spCert: string, seen: Element[]): void {
  let request: Element;
  try {
    request = readSignedRedirect(url.href, spCert).root;
  } catch (error) {
    return answer(res, 400, 'text/plain', (error as Error).message);
  }
  seen.push(request);
  const response = logoutResponseXml(idp, request.getAttribute('ID') ?? '');
  res.writeHead(302, { location: `${spLogoutUrl(idp)}?${redirectQuery(response, idp.key)}`, 'cache-control': 'no-store' }).end();
}

/** GET /sso: the AuthnRequest checked as an IdP checks it, then one button per user. */
function chooseUser(res: ServerResponse, idp: TestIdp, users: readonly TestIdpUser[], query: URLSearchParams): void {
  let request;
  try {
    request = decodeAuthnRequest(query.get('SAMLRequest') ?? '');
  } catch {
    return answer(res, 400, 'text/plain', 'missing or invalid SAMLRequest');
  }
  // A real IdP posts only to the ACS registered for the SP: a broker whose public URL is
  // not the one the test IdP was made for would otherwise fail later, at the ACS, obscurely.
  if (request.acsUrl !== null && request.acsUrl !== idp.acsUrl) return answer(res, 400, 'text/plain', `AuthnRequest asks for ACS ${request.acsUrl}; this IdP was made for ${idp.acsUrl}`);
  const hidden = hiddenFields({ requestId: request.id, RelayState: query.get('RelayState') ?? '' });
  const buttons = users
    .map((u) => `<li><button type="submit" name="user" value="${html(u.label)}">${html(u.displayName)} &lt;${html(u.email)}&gt; (groups: ${html(u.groups.join(', ') || 'none')})</button></li>`)
    .join('');
  page(res, `Sign in at ${idp.id}`, `<main><h1>Test IdP "${html(idp.id)}"</h1><p>Choose who signs in.</p><form method="post" action="/sso">${hidden}<ul>${buttons}</ul></form></main>`);
}

/** POST /sso: the signed response for the chosen user, posted on to the broker's ACS. */
function postResponse(res: ServerResponse, idp: TestIdp, users: readonly TestIdpUser[], form: URLSearchParams): void {
  const user = users.find((u) => u.label === form.get('user'));
  const requestId = form.get('requestId');
  if (!user || !requestId) return answer(res, 400, 'text/plain', 'unknown user or missing requestId');
  const xml = idp.signedResponse({
    inResponseTo: requestId,
    nameId: user.nameId ?? user.email,
    attributes: { email: user.email, displayName: user.displayName, groups: user.groups },
  });
  const nonce = randomBytes(16).toString('base64');
  const fields = hiddenFields({ SAMLResponse: encodeForPost(xml), RelayState: form.get('RelayState') ?? '' });
  page(
    res,
    'Signing in',
    `<main><form id="post" method="post" action="${html(idp.acsUrl)}">${fields}<button type="submit">Continue to Portcullis</button></form></main><script nonce="${nonce}">document.getElementById('post').submit()</script>`,
    `script-src 'nonce-${nonce}'; form-action ${new URL(idp.acsUrl).origin}`,
  );
}

function hiddenFields(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${html(value)}">`)
    .join('');
}

/** An HTML page under a CSP as strict as the broker's: nothing but what `allow` adds. */
function page(res: ServerResponse, title: string, body: string, allow = "form-action 'self'"): void {
  res.setHeader('Content-Security-Policy', `default-src 'none'; base-uri 'none'; frame-ancestors 'none'; ${allow}`);
  answer(res, 200, 'text/html; charset=utf-8', `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title></head><body>${body}</body></html>`);
}

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > FORM_BYTES) req.destroy(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

/**
 * On the test IdP's page (the browser was sent there by the broker), signs in as `userLabel`
 * and waits until the broker has taken the response and sent the browser on. Throws with
 * the broker's answer when it refused the sign-in (the browser stays on the ACS).
 */
export async function signInAtTestIdp(page: Page, brokerUrl: string, userLabel: string): Promise<void> {
  const brokerOrigin = new URL(brokerUrl).origin;
  await page.locator(`button[name="user"][value="${userLabel}"]`).click();
  await page.waitForURL((url) => url.origin === brokerOrigin);
  if (new URL(page.url()).pathname.endsWith('/acs')) throw new Error(`the broker refused the sign-in of ${userLabel}: ${await page.locator('body').innerText()}`);
}

/**
 * A whole browser sign-in: the broker's login start for `idpId`, the IdP's page, back to
 * the broker, which sets the session cookie and sends the browser to `returnTo`.
 */
export async function signInInBrowser(page: Page, brokerUrl: string, idpId: string, userLabel: string, returnTo = '/'): Promise<void> {
  await page.goto(`${brokerUrl}/auth/saml/${encodeURIComponent(idpId)}/login?returnTo=${encodeURIComponent(returnTo)}`);
  await signInAtTestIdp(page, brokerUrl, userLabel);
  const landed = new URL(page.url());
  if (`${landed.pathname}${landed.search}` !== returnTo) throw new Error(`signed in, but the broker sent the browser to ${page.url()} instead of ${returnTo}`);
}
