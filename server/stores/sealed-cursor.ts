import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { InvalidInputError, StoreUnavailableError } from '../errors.js';
import type { OneTimeValueStore } from './types.js';

const PREFIX = '~';
const KEY_NAME = 'listing-cursors';
/** How long one key seals; cursors sealed under a key that has since lapsed are refused. */
const KEY_LIFETIME_MS = 30 * 86_400_000;
/** Positions are padded to a multiple of this, so a cursor's length does not tell an embedded log's event count or a stream id's sequence. */
const BLOCK = 64;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Far above any sealed position: a longer `after` is refused before it is decoded. */
const MAX_SEALED_LENGTH = 512;
const KEY_ATTEMPTS = 3;

/**
 * Cursors for positions the caller may not see. A listing whose scan budget runs out among
 * records hidden from the caller must still say where to go on from, but a plain cursor
 * there names another user's record (its id; on a Redis stream, the millisecond it was
 * written). It is sealed instead (AES-256-GCM), bound to the listing and its caller, so it
 * reads as noise and comes back unaltered or not at all. The key lives in the shared
 * store: any instance behind the load balancer opens what another sealed.
 */
export class CursorSeal {
  constructor(
    private readonly keys: OneTimeValueStore,
    private readonly clock: Clock,
  ) {}

  /** `scope` names the listing and its caller: the cursor opens for that scope only. */
  async seal(scope: string, position: string): Promise<string> {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', await this.key(), nonce);
    cipher.setAAD(additionalData(scope));
    const raw = Buffer.from(position);
    const padded = Buffer.alloc(Math.ceil(raw.length / BLOCK) * BLOCK);
    raw.copy(padded);
    return PREFIX + Buffer.concat([nonce, cipher.update(padded), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  }

  /** A listing's `after` as a position to read from (none without one): see open. */
  async after(scope: string, after: string | null | undefined): Promise<string | undefined> {
    return after == null ? undefined : this.open(scope, after);
  }

  /** The cursor for where a scan stopped (null: nowhere): sealed when the record there is one the caller may not see. */
  async stoppedAt(scope: string, position: string | undefined, hidden: boolean): Promise<string | null> {
    if (position === undefined) return null;
    return hidden ? this.seal(scope, position) : position;
  }

  /** The position `cursor` stands for: a plain cursor is one already; a sealed one is opened, or refused when altered, sealed for another scope or under a lapsed key. */
  async open(scope: string, cursor: string): Promise<string> {
    if (!cursor.startsWith(PREFIX)) return cursor;
    const encoded = cursor.slice(PREFIX.length);
    const sealed = Buffer.from(encoded, 'base64url');
    const key = await this.keys.get(KEY_NAME);
    // Node decodes base64 leniently: only the canonical spelling of the bytes counts as the cursor issued.
    if (key === null || encoded.length > MAX_SEALED_LENGTH || sealed.length <= NONCE_BYTES + TAG_BYTES || sealed.toString('base64url') !== encoded) throw refused();
    try {
      const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key, 'base64'), sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(scope));
      decipher.setAuthTag(sealed.subarray(-TAG_BYTES));
      const padded = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, -TAG_BYTES)), decipher.final()]);
      return padded.toString().replace(/\0+$/, '');
    } catch {
      throw refused();
    }
  }

  /**
   * The key the store keeps, made when it has none. Instances finding none together (at
   * first use, or when a key lapses) each offer one, and the store keeps the first only: a
   * later offer overwriting it would leave every cursor sealed under it refused.
   */
  private async key(): Promise<Buffer> {
    // An offer is declined only while another's key is live, which the next read finds: a
    // store that declines and then shows none is broken, and is not asked for ever.
    for (let attempt = 0; attempt < KEY_ATTEMPTS; attempt++) {
      const stored = await this.keys.get(KEY_NAME);
      if (stored !== null) return Buffer.from(stored, 'base64');
      const made = randomBytes(32);
      if (await this.keys.putIfAbsent(KEY_NAME, made.toString('base64'), this.clock.now() + KEY_LIFETIME_MS)) return made;
    }
    throw new StoreUnavailableError('listing cursor key: declined, then not found');
  }
}

function additionalData(scope: string): Buffer {
  return Buffer.from(`portcullis-listing-cursor-v1\n${scope}`);
}

function refused(): InvalidInputError {
  return new InvalidInputError('after is not a cursor this listing gave you, or it has lapsed: start again from the first page', 'after');
}
