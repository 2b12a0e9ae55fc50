import type { PortcullisConfig } from '../config/schema.js';
import { fingerprintOf } from './key-rotation.js';

export interface ServiceProviderKey {
  privateKey: string;
  certificate: string;
  /** SHA-256 of the certificate (colon-separated hex, as X509Certificate gives it): how logs and audit name a key. */
  fingerprint: string;
}

/**
 * The SP's own key pairs (`saml.serviceProvider.keys`): the first signs, all decrypt and
 * all are published, so a key can be rolled in and out without a moment when an IdP's
 * copy of our metadata names a key we no longer hold.
 */
export class ServiceProviderKeys {
  readonly all: readonly ServiceProviderKey[];

  constructor(keys: readonly { privateKey: string; certificate: string }[]) {
    this.all = keys.map((k) => ({ ...k, fingerprint: fingerprintOf(k.certificate) }));
  }

  static fromConfig(config: Pick<PortcullisConfig, 'saml'>): ServiceProviderKeys {
    return new ServiceProviderKeys(config.saml.serviceProvider.keys);
  }

  /** The key that signs, or null when the SP has no keys (then it signs nothing and decrypts nothing). */
  get signing(): ServiceProviderKey | null {
    return this.all[0] ?? null;
  }
}
