import { sign, verify } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import { DOMParser } from '@xmldom/xmldom';
import { newSamlId, signElement } from '../../server/dev-idp/saml-response.js';
import type { TestIdp } from './test-idp.js';

const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
/** Redirect-binding SigAlgs; an ECDSA one is r||s (XML Signature 1.1 §6.4.3), as IdPs send it. */
const SIG_ALGS = {
  'rsa-sha256': { uri: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', dsaEncoding: undefined },
  'ecdsa-sha256': { uri: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256', dsaEncoding: 'ieee-p1363' },
} as const;

/** The IdP's own SingleLogoutService, as `identityProviders[].singleLogoutUrl` names it. */
export const idpLogoutUrl = (idp: TestIdp) => `https://${idp.id}.idp.example.com/slo`;
/** Our SingleLogoutService for the IdP, under the public URL the test IdP was made for. */
export const spLogoutUrl = (idp: TestIdp) => idp.acsUrl.replace(/\/acs$/, '/slo');

export interface LogoutRequestSpec {
  id?: string;
  issuer?: string;
  destination?: string;
  nameId?: string;
  sessionIndexes?: string[];
  issueInstant?: Date;
  notOnOrAfter?: Date;
}

/** A LogoutRequest as the IdP sends it to our SingleLogoutService (unsigned: sign it per binding). */
export function logoutRequestXml(idp: TestIdp, spec: LogoutRequestSpec = {}): string {
  const now = spec.issueInstant ?? new Date();
  const notOnOrAfter = spec.notOnOrAfter ? ` NotOnOrAfter="${iso(spec.notOnOrAfter)}"` : '';
  return (
    `<samlp:LogoutRequest xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${spec.id ?? newSamlId()}" Version="2.0" IssueInstant="${iso(now)}" Destination="${spec.destination ?? spLogoutUrl(idp)}"${notOnOrAfter}>` +
    `<saml:Issuer>${spec.issuer ?? idp.issuer}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${spec.nameId ?? 'alice@example.com'}</saml:NameID>` +
    (spec.sessionIndexes ?? []).map((index) => `<samlp:SessionIndex>${index}</samlp:SessionIndex>`).join('') +
    `</samlp:LogoutRequest>`
  );
}

/** The IdP's LogoutResponse to one of our LogoutRequests. */
export function logoutResponseXml(idp: TestIdp, inResponseTo: string, spec: { status?: string; destination?: string } = {}): string {
  return (
    `<samlp:LogoutResponse xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${newSamlId()}" Version="2.0" IssueInstant="${iso(new Date())}" Destination="${spec.destination ?? spLogoutUrl(idp)}" InResponseTo="${inResponseTo}">` +
    `<saml:Issuer>${idp.issuer}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${spec.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"/></samlp:Status>` +
    `</samlp:LogoutResponse>`
  );
}

/**
 * The HTTP-Redirect binding's query string (Bindings §3.4.4.1): the message deflated and
 * base64-encoded, signed over `SAMLRequest=…[&RelayState=…]&SigAlg=…` as encoded.
 */
export function redirectQuery(xml: string, key: { privateKey: string } | null, options: { kind?: 'SAMLRequest' | 'SAMLResponse'; relayState?: string; deflated?: Buffer; sigAlg?: keyof typeof SIG_ALGS } = {}): string {
  const kind = options.kind ?? (xml.includes(':LogoutResponse') ? 'SAMLResponse' : 'SAMLRequest');
  const parts = [`${kind}=${encodeURIComponent((options.deflated ?? deflateRawSync(Buffer.from(xml, 'utf8'))).toString('base64'))}`];
  if (options.relayState !== undefined) parts.push(`RelayState=${encodeURIComponent(options.relayState)}`);
  if (key === null) return parts.join('&');
  const { uri, dsaEncoding } = SIG_ALGS[options.sigAlg ?? 'rsa-sha256'];
  parts.push(`SigAlg=${encodeURIComponent(uri)}`);
  const signature = sign('sha256', Buffer.from(parts.join('&')), { key: key.privateKey, dsaEncoding }).toString('base64');
  return `${parts.join('&')}&Signature=${encodeURIComponent(signature)}`;
}

/** The message signed as the HTTP-POST binding carries it: an enveloped signature, base64 in a form field. */
export function signedPostForm(xml: string, key: { privateKey: string; cert: string } | null, relayState?: string): URLSearchParams {
  const kind = xml.includes(':LogoutResponse') ? 'SAMLResponse' : 'SAMLRequest';
  const signed = key === null ? xml : signElement(xml, kind === 'SAMLRequest' ? 'LogoutRequest' : 'LogoutResponse', key);
  const form = new URLSearchParams({ [kind]: Buffer.from(signed, 'utf8').toString('base64') });
  if (relayState !== undefined) form.set('RelayState', relayState);
  return form;
}

export interface ReceivedMessage {
  xml: string;
  root: Element;
  relayState: string | null;
}

/**
 * What the IdP receives from us in the HTTP-Redirect binding, read as an IdP would: the
 * signature is checked with `spCert` (the certificate our metadata publishes) over the
 * parameters as encoded; throws when it does not verify.
 */
export function readSignedRedirect(location: string, spCert: string): ReceivedMessage {
  const url = new URL(location);
  const raw = new Map(url.search.slice(1).split('&').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const));
  const kind = raw.has('SAMLRequest') ? 'SAMLRequest' : 'SAMLResponse';
  const signed = [`${kind}=${raw.get(kind)}`, ...(raw.has('RelayState') ? [`RelayState=${raw.get('RelayState')}`] : []), `SigAlg=${raw.get('SigAlg')}`].join('&');
  if (url.searchParams.get('SigAlg') !== SIG_ALGS['rsa-sha256'].uri) throw new Error(`unexpected SigAlg ${url.searchParams.get('SigAlg')}`);
  if (!verify('sha256', Buffer.from(signed), spCert, Buffer.from(url.searchParams.get('Signature') ?? '', 'base64'))) throw new Error('the redirect signature does not verify with the SP certificate');
  const xml = inflateRawSync(Buffer.from(url.searchParams.get(kind) ?? '', 'base64')).toString('utf8');
  return { xml, root: new DOMParser().parseFromString(xml, 'text/xml').documentElement as unknown as Element, relayState: url.searchParams.get('RelayState') };
}

/** What the IdP receives from us in the HTTP-POST binding (an auto-posting form page), its enveloped signature checked with `spCert`. */
export function readSignedPostPage(page: string, spCert: string): ReceivedMessage & { action: string } {
  const action = /<form id="post" method="post" action="([^"]+)"/.exec(page)?.[1];
  const field = (name: string) => [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].find((m) => m[1] === name)?.[2] ?? null;
  const message = field('SAMLResponse');
  if (!action || !message) throw new Error('no auto-posting form with a SAMLResponse');
  const xml = Buffer.from(message, 'base64').toString('utf8');
  const root = new DOMParser().parseFromString(xml, 'text/xml').documentElement as unknown as Element;
  if (getVerifiedXml(xml, root, [spCert]) === null) throw new Error('the POST signature does not verify with the SP certificate');
  return { xml, root, relayState: field('RelayState'), action: action.replaceAll('&amp;', '&') };
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
