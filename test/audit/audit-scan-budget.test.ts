import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AuditService } from '../../server/audit/audit-service.js';
import type { AuditOrder } from '../../server/audit/audit-service.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { accessConfig, principalOf, user } from '../support/access-fixture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';

/**
 * A narrow filter must not make one query read the whole log: a page looks at a bounded
 * number of events (20,000) and, past it, answers with what it found and a cursor to go on
 * from, reading forwards or backwards alike.
 */
function scanBudgetSuite(open: (clock: ManualClock) => Promise<Stores>) {
  const clock = new ManualClock();
  const config = accessConfig();
  const carol = principalOf(user('carol', ['security']), config);
  let stores: Stores;
  let service: AuditService;

  beforeAll(async () => {
    stores = await open(clock);
    service = new AuditService(stores.audit, new AccessPolicy(config), { maxGapMs: 900_000, clock });
    await stores.audit.append({ type: 'test.needle', outcome: 'SUCCESS', actor: null, data: { n: 'first' } });
    for (let batch = 0; batch < 21; batch++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => stores.audit.append({ type: 'test.hay', outcome: 'SUCCESS', actor: null, data: { i: batch * 1000 + i } })));
    }
    await stores.audit.append({ type: 'test.needle', outcome: 'SUCCESS', actor: null, data: { n: 'last' } });
  }, 120_000);
  afterAll(() => stores.close());

  const needles = (order: AuditOrder, after?: string | null) => service.list(carol, { types: ['test.needle'] }, { first: 5, order, after });

  for (const [order, near, far] of [
    ['OLDEST_FIRST', 'first', 'last'],
    ['NEWEST_FIRST', 'last', 'first'],
  ] as const) {
    it(`stops after 20,000 events ${order === 'OLDEST_FIRST' ? 'forwards' : 'backwards'} and goes on from where it stopped`, async () => {
      const page = await needles(order);
      expect(page.items.map((e) => e.data.n)).toEqual([near]);
      expect(page.hasNextPage).toBe(true);
      const next = await needles(order, page.endCursor);
      expect(next.items.map((e) => e.data.n)).toEqual([far]);
      expect(next.hasNextPage).toBe(false);
    });
  }
}

describe('audit queries keep their scan budget (embedded store)', () => scanBudgetSuite((clock) => createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-scan-')), clock })));
describeWithRedis('audit queries keep their scan budget (Redis store)', () => scanBudgetSuite((clock) => redisStoresForTest({ clock })));
