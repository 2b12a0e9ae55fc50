import { CLAUDE_HOSTED_CALLBACKS } from '../config/schema.js';
import { isLauncherScheme, isReverseDomainScheme, KNOWN_CLIENT_SCHEMES } from './redirect-schemes.js';

/** Who may receive authorization codes (`oauth.*`). */
export interface RedirectPolicy {
  allowClaudeHostedCallback: boolean;
  allowedWebRedirectOrigins: readonly string[];
  redirectSchemes: readonly string[];
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const MAX_URI_LENGTH = 2048;
/**
 * RFC 3986 §2.1: a URI is printable ASCII, anything else percent-encoded. The URL parser
 * would quietly drop a tab or encode a bidi control, while the consent page shows the
 * text as the client sent it.
 */
const URI_CHARACTERS = /^[\x21-\x7e]+$/;
/**
 * A colon, encoded or not, past the scheme: launchers find the page they open there
 * (`microsoft-edge:https://…`, `ms-word:ofe|u|https://…`, `firefox://open-url?url=https%3A…`,
 * `steam://openurl/https://…`); an encoded `%` hides one from a handler that decodes twice.
 */
const EMBEDDED_URL = /:|%3a|%25/i;

function parse(value: string): URL | null {
  if (value.length > MAX_URI_LENGTH || !URI_CHARACTERS.test(value)) return null;
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

function isLoopback(url: URL): boolean {
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * Whether a consent given before lets the code go to this redirect URI without asking
 * again: only an https web callback (an origin the operator allowed), never a loopback
 * one, http or https, which any program on the machine can listen on (RFC 8252 §8.6), nor
 * a private-use scheme any app can claim.
 */
export function skipsRepeatConsent(value: string): boolean {
  const url = parse(value);
  return url !== null && url.protocol === 'https:' && !reachesThisMachine(url.hostname);
}

/**
 * Any name that may be this machine, also in an operator's allowed origin: an IP literal
 * (127.0.0.0/8, 0.0.0.0, ::, ::ffff:127.0.0.1 all reach it, and a web callback has no need
 * of one), localhost and its subdomains (RFC 6761), with or without the final dot. A DNS
 * name that resolves to 127.0.0.1 cannot be told from its text.
 */
function reachesThisMachine(hostname: string): boolean {
  const name = hostname.replace(/\.$/, '');
  return hostname.startsWith('[') || /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Whether a client may use this redirect URI: an app on the user's machine (a loopback
 * listener, RFC 8252 §7.3, or a private-use scheme, §7.1, such as Cursor's `cursor://`),
 * or a web callback the operator allowed. A web callback hands the code to someone else's
 * server, so none is allowed by default (Claude's hosted one included).
 */
export function redirectUriProblem(value: string, policy: RedirectPolicy): string | null {
  if (!URI_CHARACTERS.test(value)) return 'has spaces, control or non-ASCII characters (RFC 3986 percent-encodes them)';
  const url = parse(value);
  if (!url) return 'not an absolute URI';
  if (url.hash !== '') return 'has a fragment (RFC 6749 §3.1.2)';
  if (url.username !== '' || url.password !== '') return 'carries credentials';
  if (isLoopback(url)) return null;
  if (url.protocol === 'http:') return 'http is allowed only to a loopback address (127.0.0.1, [::1], localhost)';
  if (url.protocol === 'https:') {
    if (policy.allowClaudeHostedCallback && CLAUDE_HOSTED_CALLBACKS.includes(url.href)) return null;
    if (policy.allowedWebRedirectOrigins.some((origin) => new URL(origin).origin === url.origin)) return null;
    return 'web callbacks are not allowed by this broker (oauth.allowedWebRedirectOrigins, oauth.allowClaudeHostedCallback)';
  }
  return privateUseProblem(url, policy);
}

/**
 * A private-use scheme must name an app (RFC 8252 §7.1: a reverse domain name), be a known
 * MCP client's, or be one the operator listed; a launcher's never is, whoever lists it.
 */
function privateUseProblem(url: URL, policy: RedirectPolicy): string | null {
  const scheme = url.protocol.slice(0, -1);
  if (isLauncherScheme(scheme)) return `the ${scheme}: scheme hands the URI to a browser or a program that opens what it names, not to an MCP client`;
  if (EMBEDDED_URL.test(url.hostname + url.pathname + url.search)) return 'carries another address after the scheme: a native app callback names none';
  if (isReverseDomainScheme(scheme) || KNOWN_CLIENT_SCHEMES.includes(scheme) || policy.redirectSchemes.includes(scheme)) return null;
  return `private-use schemes must be reverse domain names such as com.example.app (RFC 8252 §7.1), one of ${KNOWN_CLIENT_SCHEMES.join(', ')}, or listed in oauth.redirectSchemes`;
}

/**
 * Does the redirect_uri of a request match a registered one? Exactly (as URLs: `http://h:1`
 * is `http://h:1/`), except that a loopback redirect may use any port (RFC 8252 §7.3): the
 * app takes whatever port is free when it starts, and some register none at all.
 */
export function redirectUriMatches(registered: string, presented: string): boolean {
  const a = parse(registered);
  const b = parse(presented);
  if (!a || !b || b.hash !== '') return false;
  if (isLoopback(a) && isLoopback(b)) return a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname && a.search === b.search;
  return a.href === b.href;
}

/** The CSP source that lets our consent page's form post end up at the client's redirect. */
export function formActionSource(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}
