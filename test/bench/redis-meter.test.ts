import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metered, perUnit } from '../../bench/redis-meter.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';

/** docs/scaling.md counts Redis commands per call with this meter: it must count what ran, by name, and nothing of its own. */
describe('the bench Redis meter', () => {
  // A private server: the shared one serves every test file at once, and its counters with it.
  let server: RedisServerHandle;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('counts the commands run in the window by name, a script and the commands it runs alike, and leaves its own INFO out', async () => {
    const { result, delta } = await metered(redis, null, async () => {
      await redis.set('k', 'v');
      await redis.get('k');
      return redis.eval("return redis.call('GET', KEYS[1])", 1, 'k');
    });
    expect(result).toBe('v');
    expect(Object.fromEntries(delta.commands)).toEqual({ set: 1, get: 2, eval: 1 });
    expect(delta.total).toBe(4);
    expect(perUnit('s', 'call', delta, 2)).toEqual([
      expect.objectContaining({ metric: 'Redis commands per call (total_commands_processed)', value: 2 }),
      expect.objectContaining({ metric: 'GET per call', value: 1 }),
      // Equal rates in name order (the table reads the same run after run).
      expect.objectContaining({ metric: 'EVAL per call', value: 0.5 }),
      expect.objectContaining({ metric: 'SET per call', value: 0.5 }),
    ]);
  });

  it('subtracts the background rate for as long as the window lasted', async () => {
    const background = { seconds: 1, total: 10, cpuMicros: 0, usedMemory: 0, commands: new Map([['get', 10]]) };
    const { delta } = await metered(redis, background, async () => {
      await redis.get('k');
    });
    expect(delta.seconds).toBeGreaterThan(0);
    expect(delta.commands.get('get')).toBeCloseTo(1 - 10 * delta.seconds, 9);
    expect(delta.total).toBeCloseTo(1 - 10 * delta.seconds, 9);
  });
});
