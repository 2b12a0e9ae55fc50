import { deflateRawSync } from 'node:zlib';
import type { SimpleSamlPhpUser } from './simplesamlphp.js';

/** What the IdP's auto-submitting form would post, and where. */
export interface IdpAnswer {
  /** The form's action: the ACS the IdP addressed the response to. */
  action: string;
  /** The SAMLResponse, decoded: the XML as the IdP signed (and perhaps encrypted) it. */
  xml: string;
  relayState: string | null;
}

const MAX_HOPS = 10;

/**
 * Signs `user` in at SimpleSAMLphp as a browser without scripts would: follows the
 * redirects from `ssoUrl` (the SP's AuthnRequest), submits the UserPass form with its
 * AuthState, and reads the auto-submitting POST form the IdP answers with. Cookies are
 * kept for the IdP's one origin (its session ties the form to the request). `diagnostics`
 * (the IdP's log) is added to the error when a page is not the one expected.
 */
export async function loginAtSimpleSamlPhp(ssoUrl: URL, user: Pick<SimpleSamlPhpUser, 'username' | 'password'>, diagnostics: () => string = () => ''): Promise<IdpAnswer> {
  const cookies = new Map<string, string>();
  const request = async (url: URL, body?: URLSearchParams): Promise<{ url: URL; html: string }> => {
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      if (url.origin !== ssoUrl.origin) throw new Error(`SimpleSAMLphp redirected to another origin: ${url.origin}`);
      const res = await fetch(url, { method: body ? 'POST' : 'GET', body, redirect: 'manual', headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const line of res.headers.getSetCookie()) {
        const [pair = ''] = line.split(';');
        const at = pair.indexOf('=');
        if (at > 0) cookies.set(pair.slice(0, at), pair.slice(at + 1));
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { url, html: await res.text() };
      url = new URL(location, url);
      body = undefined;
    }
    throw new Error(`more than ${MAX_HOPS} redirects from ${ssoUrl.origin}`);
  };
  const unexpected = (page: { url: URL; html: string }, what: string) =>
    new Error(`SimpleSAMLphp showed no ${what} at ${page.url.pathname} ("${/<title>([^<]*)<\/title>/.exec(page.html)?.[1]?.trim() ?? ''}")\n${diagnostics()}`);

  const loginPage = await request(ssoUrl);
  const login = formOf(loginPage.html);
  if (!login?.fields.AuthState) throw unexpected(loginPage, 'login form');
  const answerPage = await request(new URL(login.action, loginPage.url), new URLSearchParams({ AuthState: login.fields.AuthState, username: user.username, password: user.password }));
  const answer = formOf(answerPage.html);
  if (!answer?.fields.SAMLResponse) throw unexpected(answerPage, 'SAMLResponse form (wrong password?)');
  return { action: new URL(answer.action, answerPage.url).href, xml: Buffer.from(answer.fields.SAMLResponse, 'base64').toString('utf8'), relayState: answer.fields.RelayState ?? null };
}

/** The first form of a page: its action and hidden fields (SimpleSAMLphp escapes them with htmlspecialchars). */
function formOf(html: string): { action: string; fields: Record<string, string> } | null {
  const form = /<form\b[^>]*>/i.exec(html);
  if (!form) return null;
  const fields: Record<string, string> = {};
  for (const [input] of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, 'name');
    if (attribute(input, 'type') === 'hidden' && name) fields[name] = attribute(input, 'value') ?? '';
  }
  return { action: attribute(form[0], 'action') ?? '', fields };
}

function attribute(tag: string, name: string): string | undefined {
  const value = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag)?.[1];
  return value?.replace(/&(quot|#0?39|lt|gt|amp);/g, (_, entity: string) => ({ quot: '"', '#039': "'", '#39': "'", lt: '<', gt: '>', amp: '&' })[entity] ?? '');
}

/**
 * The HTTP-Redirect URL of an AuthnRequest another service provider would send: how a
 * test gets SimpleSAMLphp to issue a response meant for someone else.
 */
export function authnRequestUrl(ssoUrl: string, request: { id: string; issuer: string; acsUrl: string }): URL {
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${request.id}" Version="2.0" ` +
    `IssueInstant="${new Date().toISOString()}" Destination="${ssoUrl}" AssertionConsumerServiceURL="${request.acsUrl}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${request.issuer}</saml:Issuer></samlp:AuthnRequest>`;
  const url = new URL(ssoUrl);
  url.searchParams.set('SAMLRequest', deflateRawSync(xml).toString('base64'));
  return url;
}
