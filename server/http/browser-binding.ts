import { randomBytes } from 'node:crypto';
import { parse, serialize } from 'cookie';
import type { IncomingHttpHeaders } from 'node:http';

/** As long as a pending sign-in lives (oidc-sign-in.ts, saml/assertion-consumer.ts). */
const MAX_AGE_SECONDS = 600;

/** A fresh binding value: 32 random bytes, base64url. */
export function newBrowserBinding(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A cookie that ties a sign-in's return from the IdP to the browser that began it (login
 * CSRF). On https it is Secure with the `__Host-` prefix, like the session cookie, so no
 * sibling subdomain can plant one.
 *
 * How it must travel depends on how the IdP sends the browser back. A redirect (OIDC) is a
 * top-level GET, which SameSite=Lax carries. A SAML IdP's form post to the ACS is a
 * cross-site POST, which Lax does not carry: that cookie is SameSite=None, which browsers
 * take only when Secure. On plain http it then has no SameSite at all: Chromium treats
 * that as Lax but still sends it on a top-level cross-site POST within two minutes of
 * setting it, other browsers as None; a Secure cookie on http is refused by some browsers
 * even on loopback. Being sent cross-site gives nothing away: the value only ever has to
 * match what the broker stored for the sign-in.
 */
export class BrowserBindingCookie {
  private readonly name: string;
  private readonly secure: boolean;
  private readonly sameSite: 'lax' | 'none' | undefined;

  constructor(publicUrl: string, options: { name: string; crossSitePost: boolean }) {
    this.secure = new URL(publicUrl).protocol === 'https:';
    this.name = this.secure ? `__Host-${options.name}` : options.name;
    this.sameSite = !options.crossSitePost ? 'lax' : this.secure ? 'none' : undefined;
  }

  read(headers: IncomingHttpHeaders): string | undefined {
    return headers.cookie ? parse(headers.cookie)[this.name] : undefined;
  }

  set(value: string): string {
    return serialize(this.name, value, { httpOnly: true, sameSite: this.sameSite, secure: this.secure, path: '/', maxAge: MAX_AGE_SECONDS });
  }

  clear(): string {
    return serialize(this.name, '', { httpOnly: true, sameSite: this.sameSite, secure: this.secure, path: '/', expires: new Date(0) });
  }
}
