import { CLAUDE_HOSTED_CALLBACKS } from '../config/schema.js';

/** Who may receive authorization codes besides native apps on this machine (`oauth.*`). */
export interface RedirectPolicy {
  allowClaudeHostedCallback: boolean;
  allowedWebRedirectOrigins: readonly string[];
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** Schemes a browser runs or reads locally instead of handing to an app: never a redirect. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'about:', 'blob:', 'filesystem:', 'ftp:', 'ws:', 'wss:']);
const MAX_URI_LENGTH = 2048;

function parse(value: string): URL | null {
  if (value.length > MAX_URI_LENGTH) return null;
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
 * Whether a client may register this redirect URI: an app on the user's machine (a
 * loopback listener, RFC 8252 §7.3, or a private-use scheme, §7.1, such as Cursor's
 * `cursor://`), or a web callback the operator allowed. A web callback hands the code to
 * someone else's server, so none is allowed by default (Claude's hosted one included).
 */
export function redirectUriProblem(value: string, policy: RedirectPolicy): string | null {
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
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `the ${url.protocol} scheme is not a redirect`;
  return null;
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
