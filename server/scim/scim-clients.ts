import { createHash, timingSafeEqual } from 'node:crypto';
import { SCIM_TOKEN_CHARACTERS } from '../config/schema.js';
import type { IdentityProviderConfig } from '../config/schema.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Which IdP's SCIM client a bearer token is (identityProviders[].scim.token). Compared as
 * SHA-256 digests in constant time: equal lengths whatever was sent, and nothing about
 * how much of a token matched leaks through timing. Every IdP is compared, match or not.
 */
export class ScimClients {
  private readonly clients: { idp: string; digest: Buffer }[];

  constructor(idps: readonly Pick<IdentityProviderConfig, 'id' | 'scim'>[]) {
    this.clients = idps.flatMap((idp) => (idp.scim ? [{ idp: idp.id, digest: digest(idp.scim.token) }] : []));
  }

  get enabled(): boolean {
    return this.clients.length > 0;
  }

  /** The IdP whose token the Authorization header carries; null for anything else. */
  idpOf(authorization: string | undefined): string | null {
    const token = authorization === undefined ? null : /^Bearer (.+)$/i.exec(authorization)?.[1];
    if (!token || !SCIM_TOKEN_CHARACTERS.test(token)) return null;
    const presented = digest(token);
    let found: string | null = null;
    for (const client of this.clients) if (timingSafeEqual(presented, client.digest)) found = client.idp;
    return found;
  }
}
