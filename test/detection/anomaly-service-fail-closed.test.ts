import { afterAll, beforeAll, expect, it } from 'vitest';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AuditService } from '../../server/audit/audit-service.js';
import { AnomalyService } from '../../server/detection/anomaly-service.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { accessFixture } from '../support/access-fixture.js';
import type { AccessFixture } from '../support/access-fixture.js';
import { seedAnomaly } from '../support/anomaly-seed.js';
import { describeWithRedis } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';

/**
 * Fail closed: an answer to an anomaly is audited before it takes effect. The anomalies live
 * on one Redis and the audit log on another, which stops answering: nothing may change.
 */
describeWithRedis('answering anomalies while the audit log cannot be written', () => {
  let auditRedis: RedisServerHandle;
  let live: AccessFixture;
  let down: AccessFixture;
  let anomalies: AnomalyService;
  beforeAll(async () => {
    auditRedis = await startRedisServer();
    live = await accessFixture('redis');
    down = await accessFixture('redis', { redisUrl: auditRedis.url });
    const auditService = new AuditService(down.stores.audit, new AccessPolicy(live.config), { maxGapMs: 0, clock: live.clock }, live.cursors);
    anomalies = new AnomalyService({ store: live.stores.anomalies, audit: down.stores.audit, auditService, clock: live.clock });
  });
  afterAll(async () => {
    await Promise.all([live.stores.close(), down.stores.close()]);
    await auditRedis.stop();
  });

  it('acknowledges, suppresses and unsuppresses nothing, failing with StoreUnavailableError', async () => {
    const seeded = await seedAnomaly(live.stores, { user: 'alice@example.com' });
    const carol = live.as('carol');
    const kept = await anomalies.suppress(carol, { user: 'alice@example.com', rule: 'breadth', durationSeconds: 3600, reason: 'release day' });
    await auditRedis.pause();
    try {
      await expect(anomalies.acknowledge(carol, seeded.id, 'seen')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(anomalies.suppress(carol, { user: 'alice@example.com', rule: 'probing', durationSeconds: 3600, reason: 'pen test' })).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(anomalies.unsuppress(carol, kept.id)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await auditRedis.resume();
    }
    expect((await live.stores.anomalies.get(seeded.id))?.status).toBe('open');
    expect((await live.stores.anomalies.suppressions(live.clock.now())).map((s) => s.id)).toEqual([kept.id]);
  });
});
