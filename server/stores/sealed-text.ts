import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { StoreUnavailableError } from '../errors.js';
import type { OneTimeValueStore } from './types.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ATTEMPTS = 3;

/** What one kind of sealed text is: its key's name and lifetime, the label bound into every seal, and its bounds. */
export interface SealKind {
  keyName: string;
  /** Bound into each seal (with its scope): text sealed for one purpose never opens for another. */
  label: string;
  /**
   * How long text sealed now stays open at least: a new key seals every half of it, and a
   * key opens what it sealed until the next one is replaced too (so up to 1.5 times this).
   */
  keyLifetimeMs: number;
  /** Text is padded to a multiple of this, so a seal's length tells little of it. */
  block: number;
  /** Far above any seal of this kind: a longer one is refused before it is decoded. */
  maxEncodedLength: number;
}

/**
 * Text only this deployment can read or make (AES-256-GCM), bound to a scope, as
 * base64url. The keys live in the shared store, so any instance opens what another
 * sealed; instances finding none together each offer one and the store keeps the first.
 * Keys take turns by period (half the kind's lifetime): text sealed late in one period
 * still opens in the next, so nothing sealed a moment ago is refused when a key changes.
 */
export class SealedText {
  constructor(
    private readonly keys: OneTimeValueStore,
    private readonly clock: Clock,
    private readonly kind: SealKind,
  ) {}

  async seal(scope: string, text: string): Promise<string> {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', await this.key(this.period()), nonce);
    cipher.setAAD(this.additionalData(scope));
    const raw = Buffer.from(text);
    const padded = Buffer.alloc(Math.ceil(raw.length / this.kind.block) * this.kind.block);
    raw.copy(padded);
    return Buffer.concat([nonce, cipher.update(padded), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  }

  /** The text `encoded` seals, or null when it is not a seal of this kind and scope under the current key (altered, foreign, lapsed). */
  async open(scope: string, encoded: string): Promise<string | null> {
    if (encoded.length > this.kind.maxEncodedLength) return null;
    const sealed = Buffer.from(encoded, 'base64url');
    // Node decodes base64 leniently: only the canonical spelling of the bytes counts as the seal issued.
    if (sealed.length <= NONCE_BYTES + TAG_BYTES || sealed.toString('base64url') !== encoded) return null;
    // The current period's key first: the previous one is read only for what it sealed.
    const period = this.period();
    for (const name of [this.keyName(period), this.keyName(period - 1)]) {
      const key = await this.keys.get(name);
      const text = key === null ? null : this.decrypt(Buffer.from(key, 'base64'), scope, sealed);
      if (text !== null) return text;
    }
    return null;
  }

  private decrypt(key: Buffer, scope: string, sealed: Buffer): string | null {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(this.additionalData(scope));
      decipher.setAuthTag(sealed.subarray(-TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, -TAG_BYTES)), decipher.final()]).toString().replace(/\0+$/, '');
    } catch {
      return null;
    }
  }

  private period(): number {
    return Math.floor(this.clock.now() / (this.kind.keyLifetimeMs / 2));
  }

  private keyName(period: number): string {
    return `${this.kind.keyName}:${period}`;
  }

  /**
   * The period's key the store keeps, made when it has none. An offer is declined only while
   * another's key is live, which the next read finds: a store that declines and then shows
   * none is broken, and is not asked for ever.
   */
  private async key(period: number): Promise<Buffer> {
    const name = this.keyName(period);
    // Kept through the next period too, when it still opens what it sealed.
    const expiresAt = (period + 2) * (this.kind.keyLifetimeMs / 2);
    for (let attempt = 0; attempt < KEY_ATTEMPTS; attempt++) {
      const stored = await this.keys.get(name);
      if (stored !== null) return Buffer.from(stored, 'base64');
      const made = randomBytes(32);
      if (await this.keys.putIfAbsent(name, made.toString('base64'), expiresAt)) return made;
    }
    throw new StoreUnavailableError(`${this.kind.keyName} key: declined, then not found`);
  }

  private additionalData(scope: string): Buffer {
    return Buffer.from(`${this.kind.label}\n${scope}`);
  }
}
