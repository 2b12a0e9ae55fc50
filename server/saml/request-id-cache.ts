import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import type { OneTimeValueStore } from '../stores/types.js';

/**
 * The request ids of our pending SAML requests, in the shared store so any instance can
 * finish a login another began: node-saml saves an AuthnRequest's id here at the login
 * start (as its InResponseTo cache), the ACS takes it back (solicitation.ts). Keys are
 * scoped to one kind of request and one IdP, the kind first: a response to a request sent
 * to IdP A is unknown at IdP B's ACS, and a pending LogoutRequest's id never completes a
 * sign-in, whatever an IdP is named (`logout:corp:<id>` was once the login key of IdP
 * `logout` for the id `corp:<id>`).
 * Taking is atomic (GETDEL): of two responses racing on one request id, one gets it.
 * A login start's cache saves, as each id's value, the hash of the binding of the browser
 * that asked (browser-binding.ts) rather than node-saml's (the request's IssueInstant,
 * which only node-saml's own response checks, never used here, would read).
 */
export class StoreRequestIdCache implements CacheProvider {
  constructor(
    private readonly store: OneTimeValueStore,
    private readonly kind: 'login' | 'logout',
    private readonly idpId: string,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly browser?: string,
  ) {}

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    const now = this.clock.now();
    const saved = this.browser ?? value;
    await this.store.put(this.key(key), saved, now + this.ttlMs);
    return { value: saved, createdAt: now };
  }

  getAsync(key: string): Promise<string | null> {
    return this.store.get(this.key(key));
  }

  /** Takes the id: its value if it was pending (and now is not), null if it was unknown, used or expired. */
  removeAsync(key: string | null): Promise<string | null> {
    return key === null ? Promise.resolve(null) : this.store.take(this.key(key));
  }

  private key(requestId: string): string {
    return `${this.kind}:${this.idpId}:${requestId}`;
  }
}
