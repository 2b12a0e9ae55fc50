import type { Clock } from '../clock.js';
import { InvalidInputError } from '../errors.js';
import { SealedText } from './sealed-text.js';
import type { OneTimeValueStore } from './types.js';

const PREFIX = '~';

/**
 * Cursors for positions the caller may not see. A listing whose scan budget runs out among
 * records hidden from the caller must still say where to go on from, but a plain cursor
 * there names another user's record (its id; on a Redis stream, the millisecond it was
 * written). It is sealed instead (AES-256-GCM), bound to the listing and its caller, so it
 * reads as noise and comes back unaltered or not at all. The key lives in the shared
 * store: any instance behind the load balancer opens what another sealed.
 */
export class CursorSeal {
  private readonly sealed: SealedText;

  constructor(keys: OneTimeValueStore, clock: Clock) {
    // Positions padded to 64 bytes: a cursor's length does not tell an embedded log's event count or a stream id's sequence.
    this.sealed = new SealedText(keys, clock, { keyName: 'listing-cursors', label: 'portcullis-listing-cursor-v1', keyLifetimeMs: 30 * 86_400_000, block: 64, maxEncodedLength: 512 });
  }

  /** `scope` names the listing and its caller: the cursor opens for that scope only. */
  async seal(scope: string, position: string): Promise<string> {
    return PREFIX + (await this.sealed.seal(scope, position));
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
    const position = await this.sealed.open(scope, cursor.slice(PREFIX.length));
    if (position === null) throw refused();
    return position;
  }
}

function refused(): InvalidInputError {
  return new InvalidInputError('after is not a cursor this listing gave you, or it has lapsed: start again from the first page', 'after');
}
