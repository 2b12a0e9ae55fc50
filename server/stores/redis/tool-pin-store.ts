import type { ToolChangeRecord, ToolDefinitionSeen, ToolPinCheck, ToolPinStore } from '../types.js';
import { defineScript, guarded } from './connection.js';
import type { RedisClient } from './connection.js';
import { slotKeys } from './keys.js';
import type { KeyNamer } from './keys.js';

/**
 * Pins the definition unless the tool has one (first writer wins: HSETNX in one script with
 * the capacity check), or records it as the pending change unless that very definition is
 * already pending (so `recorded` is true on exactly one instance).
 * KEYS: pins hash, changes hash, servers-with-changes set. ARGV: tool, seen JSON, seen hash, capacity, server.
 * Returns {'pinned', created} | {'changed', pinnedHash, recorded} | {'full'}.
 */
const checkPin = defineScript(`
local pin = redis.call('HGET', KEYS[1], ARGV[1])
if not pin then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {'full'} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {'pinned', 1}
end
local pinned = cjson.decode(pin)
if pinned.hash == ARGV[3] then return {'pinned', 0} end
local pending = redis.call('HGET', KEYS[2], ARGV[1])
if pending and cjson.decode(pending).seen.hash == ARGV[3] then return {'changed', pinned.hash, 0} end
redis.call('HSET', KEYS[2], ARGV[1], '{"pinned":' .. pin .. ',"seen":' .. ARGV[2] .. '}')
redis.call('SADD', KEYS[3], ARGV[5])
return {'changed', pinned.hash, 1}
`);

/**
 * Re-pins to the pending definition when its hash is the one accepted, and drops the change.
 * KEYS: pins hash, changes hash. ARGV: tool, hash. Returns the change's JSON, or false.
 */
const acceptChange = defineScript(`
local pending = redis.call('HGET', KEYS[2], ARGV[1])
if not pending then return false end
local change = cjson.decode(pending)
if change.seen.hash ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(change.seen))
redis.call('HDEL', KEYS[2], ARGV[1])
return pending
`);

/** Tool pins shared by every instance: per server a hash of pins and a hash of pending changes, by tool name. */
export class RedisToolPinStore implements ToolPinStore {
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly capacity: number,
  ) {
    this.k = slotKeys(prefix, 'tool-pins');
  }

  /** One slot: a check touches the server's pins, its changes and the set of servers with changes. */
  private readonly k: KeyNamer;

  async check(server: string, tool: string, seen: ToolDefinitionSeen): Promise<ToolPinCheck> {
    const answer = (await guarded('tool pin check', () =>
      checkPin(this.redis, [this.pinsKey(server), this.changesKey(server), this.serversKey()], [tool, JSON.stringify(seen), seen.hash, this.capacity, server]),
    )) as [string, ...(string | number)[]];
    if (answer[0] === 'full') return { verdict: 'full' };
    if (answer[0] === 'pinned') return { verdict: 'pinned', created: answer[1] === 1 };
    return { verdict: 'changed', pinnedHash: String(answer[1]), recorded: answer[2] === 1 };
  }

  async changes(server?: string): Promise<ToolChangeRecord[]> {
    const servers = server === undefined ? await guarded('tool changes', () => this.redis.smembers(this.serversKey())) : [server];
    const found: ToolChangeRecord[] = [];
    for (const name of servers) {
      const fields = await guarded('tool changes', () => this.redis.hgetall(this.changesKey(name)));
      for (const [tool, json] of Object.entries(fields)) found.push({ server: name, tool, ...(JSON.parse(json) as Pick<ToolChangeRecord, 'pinned' | 'seen'>) });
    }
    return found.sort((a, b) => a.seen.at - b.seen.at);
  }

  async accept(server: string, tool: string, hash: string): Promise<ToolChangeRecord | null> {
    const json = await guarded('tool change accept', () => acceptChange(this.redis, [this.pinsKey(server), this.changesKey(server)], [tool, hash]));
    return typeof json === 'string' ? { server, tool, ...(JSON.parse(json) as Pick<ToolChangeRecord, 'pinned' | 'seen'>) } : null;
  }

  private pinsKey(server: string): string {
    return this.k('pins', server);
  }

  private changesKey(server: string): string {
    return this.k('changes', server);
  }

  private serversKey(): string {
    return this.k('changed-servers');
  }
}
