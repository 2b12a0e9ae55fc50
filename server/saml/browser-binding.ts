import type { IncomingHttpHeaders } from 'node:http';
import { BrowserBindingCookie, newBrowserBinding } from '../http/browser-binding.js';
import { hashSecret, secretMatches } from '../identity/credentials.js';
import { SamlRejection } from './refusal.js';

/**
 * `<binding>.<sign-ins begun>`: one binding for every tab of a browser, so tabs signing in
 * at once do not overwrite each other's, and a count so that the last sign-in to finish
 * clears the cookie rather than leave it behind for its ten minutes.
 */
const VALUE = /^([A-Za-z0-9_-]{43})\.(\d{1,3})$/;
const MAX_COUNT = 999;

/** Who posted a response to the ACS, as far as the ACS can tell. */
export interface Poster {
  /** The browser binding its cookie carries. */
  binding: string | undefined;
  /**
   * It sent Sec-Fetch-Site (Fetch Metadata), which every current browser sends on every
   * request to an https or loopback origin: a browser, so possibly a login-CSRF victim.
   * Not Sec-Fetch-Mode: Node's fetch (undici) adds that one to every request.
   */
  isBrowser: boolean;
}

/**
 * Ties an SP-initiated SAML sign-in to the browser that began it. The request id alone
 * does not: a response someone obtained for their own request, posted to the ACS from
 * another browser (an auto-submitting form on any page), would sign that browser in as
 * them (login CSRF), and what it then does (consents, CLI logins, access requests) lands
 * on their account. The login start stores the hash of the browser's binding with the
 * request id; the ACS compares it with the cookie of whoever posts the response.
 */
export class SamlBrowserBinding {
  private readonly cookie: BrowserBindingCookie;

  constructor(publicUrl: string) {
    this.cookie = new BrowserBindingCookie(publicUrl, { name: 'portcullis_saml', crossSitePost: true });
  }

  /** At the login start: the hash to store with the request, and the cookie to set (the browser's binding if it has one). */
  begin(headers: IncomingHttpHeaders): { browser: string; setCookie: string } {
    const current = this.read(headers);
    const binding = current?.binding ?? newBrowserBinding();
    const count = Math.min((current?.count ?? 0) + 1, MAX_COUNT);
    return { browser: hashSecret(binding), setCookie: this.cookie.set(`${binding}.${count}`) };
  }

  poster(headers: IncomingHttpHeaders): Poster {
    return { binding: this.read(headers)?.binding, isBrowser: headers['sec-fetch-site'] !== undefined };
  }

  /** After a solicited sign-in: the cookie with one sign-in fewer, cleared with the last; none if the post carried none. */
  finished(headers: IncomingHttpHeaders): string | undefined {
    const current = this.read(headers);
    if (!current) return undefined;
    return current.count > 1 ? this.cookie.set(`${current.binding}.${current.count - 1}`) : this.cookie.clear();
  }

  private read(headers: IncomingHttpHeaders): { binding: string; count: number } | undefined {
    const match = VALUE.exec(this.cookie.read(headers) ?? '');
    return match ? { binding: match[1]!, count: Number(match[2]) } : undefined;
  }
}

/**
 * Refuses a response to a request begun in another browser (`browser`: the hash stored
 * with the request). A poster without the cookie passes only if it is no browser: a
 * script or CLI that did not keep the login start's cookie cannot be the victim of login
 * CSRF, which needs a browser to carry the response for it. A browser too old to send
 * Fetch Metadata, and without the cookie, passes too: that is the residual.
 */
export function checkPoster(poster: Poster, browser: string): void {
  const bound = poster.binding === undefined ? !poster.isBrowser : secretMatches(poster.binding, browser);
  if (!bound) throw new SamlRejection('browser_mismatch');
}
