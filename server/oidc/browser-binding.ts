import { parse, serialize } from 'cookie';
import type { IncomingHttpHeaders } from 'node:http';

/** As long as a pending sign-in lives (oidc-sign-in.ts). */
const MAX_AGE_SECONDS = 600;

/**
 * The cookie that ties an OIDC callback to the browser that began the sign-in. SameSite=Lax:
 * the provider's redirect back is a top-level navigation, which carries it. On https it is
 * Secure with the `__Host-` prefix, like the session cookie.
 */
export class BrowserBindingCookie {
  private readonly name: string;
  private readonly secure: boolean;

  constructor(publicUrl: string) {
    this.secure = new URL(publicUrl).protocol === 'https:';
    this.name = this.secure ? '__Host-portcullis_oidc' : 'portcullis_oidc';
  }

  read(headers: IncomingHttpHeaders): string | undefined {
    return headers.cookie ? parse(headers.cookie)[this.name] : undefined;
  }

  set(value: string): string {
    return serialize(this.name, value, { httpOnly: true, sameSite: 'lax', secure: this.secure, path: '/', maxAge: MAX_AGE_SECONDS });
  }

  clear(): string {
    return serialize(this.name, '', { httpOnly: true, sameSite: 'lax', secure: this.secure, path: '/', expires: new Date(0) });
  }
}
