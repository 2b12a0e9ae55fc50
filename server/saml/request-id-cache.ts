import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import type { OneTimeValueStore } from '../stores/types.js';

/**
 * node-saml's InResponseTo cache, backed by the shared store so any instance can finish a
 * login another began. Keys are scoped to one IdP: a response to a request sent to IdP A
 * is unknown at IdP B's ACS. One instance serves one ACS request and records whether its
 * remove actually took the id (GETDEL), so of two responses racing on one request id only
 * one can complete a login.
 */
export class StoreRequestIdCache implements CacheProvider {
  consumed = false;
  private taken: { key: string; value: string } | null = null;

  constructor(
    private readonly store: OneTimeValueStore,
    private readonly idpId: string,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    const now = this.clock.now();
    await this.store.put(this.key(key), value, now + this.ttlMs);
    return { value, createdAt: now };
  }

  getAsync(key: string): Promise<string | null> {
    return this.store.get(this.key(key));
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null) return null;
    const value = await this.store.take(this.key(key));
    if (value !== null) {
      this.consumed = true;
      this.taken = { key, value };
    }
    return value;
  }

  /**
   * Puts back the request id this instance took, for the one re-check of a response after
   * the IdP's keys changed (routes.ts). Only this instance took it, so no other response
   * completed a login with it; it lives one more TTL at most, once per refresh.
   */
  async restore(): Promise<void> {
    if (!this.taken) return;
    await this.store.put(this.key(this.taken.key), this.taken.value, this.clock.now() + this.ttlMs);
    this.taken = null;
    this.consumed = false;
  }

  private key(requestId: string): string {
    return `${this.idpId}:${requestId}`;
  }
}
