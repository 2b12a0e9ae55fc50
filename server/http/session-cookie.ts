import { parse, serialize } from 'cookie';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The browser session cookie: HttpOnly, SameSite=Lax, and on https Secure with the
 * `__Host-` prefix (browsers then refuse it unless Secure, host-only, Path=/).
 */
export class SessionCookie {
  readonly name: string;
  private readonly secure: boolean;

  constructor(publicUrl: string) {
    this.secure = new URL(publicUrl).protocol === 'https:';
    this.name = this.secure ? '__Host-portcullis_session' : 'portcullis_session';
  }

  read(headers: IncomingHttpHeaders): string | undefined {
    const header = headers.cookie;
    return header ? parse(header)[this.name] : undefined;
  }

  set(value: string, expiresAt: number): string {
    return serialize(this.name, value, { httpOnly: true, sameSite: 'lax', secure: this.secure, path: '/', expires: new Date(expiresAt) });
  }

  clear(): string {
    return serialize(this.name, '', { httpOnly: true, sameSite: 'lax', secure: this.secure, path: '/', expires: new Date(0) });
  }
}
