import { afterAll, beforeAll, expect, it } from 'vitest';
import { findChainBreak, GENESIS_HASH } from '../../server/audit/chain.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { accessFixture } from '../support/access-fixture.js';
import type { AccessFixture } from '../support/access-fixture.js';
import { describeWithRedis } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';

describeWithRedis('access operations while Redis is down', () => {
  let redis: RedisServerHandle;
  let fx: AccessFixture;
  beforeAll(async () => {
    redis = await startRedisServer();
    fx = await accessFixture('redis', { redisUrl: redis.url });
  });
  afterAll(async () => {
    await fx.stores.close();
    await redis.stop();
  });

  it('fail with StoreUnavailableError and change no request or grant', async () => {
    const pending = await fx.access.createRequest(fx.as('alice'), { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 60 });
    const granted = await fx.access.createRequest(fx.as('alice'), { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 60 });
    await redis.pause();
    await expect(fx.access.createRequest(fx.as('alice'), { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 60 })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(fx.access.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(fx.access.revokeGrant(fx.as('alice'), granted.grantId!, 'x')).rejects.toBeInstanceOf(StoreUnavailableError);
    await redis.resume();
    await fx.stores.waitReady();
    expect((await fx.stores.access.listRequests({ limit: 10 })).map((l) => l.record.id).sort()).toEqual([pending.id, granted.id].sort());
    expect((await fx.stores.access.getRequest(pending.id))?.status).toBe('PENDING');
    expect((await fx.stores.access.getGrant(granted.grantId!))?.revokedAt).toBeNull();
    // A command that timed out may still run once Redis wakes: the audit log can then hold
    // the attempt (audit is written first), but the chain stays whole and no state moved.
    expect(findChainBreak(await fx.stores.audit.read({ limit: 100 }), GENESIS_HASH)).toBeNull();
  });
});
