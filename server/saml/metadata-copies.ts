import { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { OneTimeValueStore } from '../stores/types.js';
import type { IdentityProvider, IdpTrust } from './identity-providers.js';

/** As long as a recorded key set (key-rotation.ts): every good fetch renews it. */
const COPY_TTL_MS = 400 * 86_400_000;

/**
 * The last good copy of each metadata IdP's trust, in the shared store, so that a broker
 * (re)started while the IdP's metadata server is down still knows its keys. A copy counts
 * only for the URL it was fetched from and, when idpIssuer is configured, for that entity.
 */
export class StoredMetadataCopies {
  constructor(private readonly deps: { store: OneTimeValueStore; clock: Clock }) {}

  async save(idp: IdentityProvider, trust: IdpTrust): Promise<void> {
    await this.deps.store.put(this.key(idp), JSON.stringify({ url: idp.metadata!.url, trust }), this.deps.clock.now() + COPY_TTL_MS);
  }

  async load(idp: IdentityProvider): Promise<IdpTrust | null> {
    const stored = await this.deps.store.get(this.key(idp));
    if (stored === null) return null;
    const { url, trust } = JSON.parse(stored) as { url: unknown; trust: Partial<IdpTrust> };
    const expected = idp.metadata!.expectedIssuer;
    if (url !== idp.metadata!.url || typeof trust.entryPoint !== 'string' || typeof trust.idpIssuer !== 'string' || !Array.isArray(trust.idpCert)) return null;
    if (expected !== undefined && trust.idpIssuer !== expected) return null;
    if (!trust.idpCert.every(isCertificate)) return null;
    return { entryPoint: trust.entryPoint, idpIssuer: trust.idpIssuer, idpCert: trust.idpCert };
  }

  private key(idp: IdentityProvider): string {
    return `metadata:${idp.id}`;
  }
}

function isCertificate(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    new X509Certificate(value);
    return true;
  } catch {
    return false;
  }
}
