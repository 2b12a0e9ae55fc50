import type { ExportCursorStore } from '../types.js';
import { defineScript, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import { claimLease, releaseLease } from './detector-state-store.js';

/**
 * The fenced commit: sets the cursor only while ARGV holder holds a live lease.
 * KEYS: lease hash, cursor. ARGV: holder, lease now, cursor. Returns 1, or 0 when nothing was written.
 */
const commitCursor = defineScript(`
local lease = redis.call('HMGET', KEYS[1], 'holder', 'expiresAt')
if lease[1] ~= ARGV[1] or tonumber(lease[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
return 1
`);

/** Each sink's lease and cursor, shared by every instance: one hash slot per sink (`{export:<sink>}`), as its scripts touch both. */
export class RedisExportCursorStore implements ExportCursorStore {
  private readonly k: (sink: string, suffix: string) => string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.k = (sink, suffix) => slotKeys(prefix, `export:${sink}`)(suffix);
  }

  async claim(sink: string, holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null> {
    const answer = (await guarded('export claim', () => claimLease(this.redis, [this.k(sink, 'lease'), this.k(sink, 'cursor')], [holder, now, expiresAt]))) as [number, string | null];
    return answer[0] === 1 ? { cursor: answer[1] ?? null } : null;
  }

  async release(sink: string, holder: string): Promise<void> {
    await guarded('export release', () => releaseLease(this.redis, [this.k(sink, 'lease')], [holder]));
  }

  async commit(sink: string, holder: string, leaseNow: number, cursor: string): Promise<boolean> {
    return (await guarded('export commit', () => commitCursor(this.redis, [this.k(sink, 'lease'), this.k(sink, 'cursor')], [holder, leaseNow, cursor]))) === 1;
  }

  cursor(sink: string): Promise<string | null> {
    return guarded('export cursor', () => this.redis.get(this.k(sink, 'cursor')));
  }
}
