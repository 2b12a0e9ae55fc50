import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPubSub } from '@graphql-yoga/subscription';
import { graphql } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildPortcullisSchema } from '../../schema/build-schema.js';
import { operationContext } from '../../schema/context.js';
import type { GraphQLServices } from '../../schema/context.js';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AuditService, ScanBudget } from '../../server/audit/audit-service.js';
import { ReplayPace } from '../../server/audit/replay-pace.js';
import type { AuditOrder } from '../../server/audit/audit-service.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { CursorSeal } from '../../server/stores/sealed-cursor.js';
import type { Stores } from '../../server/stores/types.js';
import { accessConfig, principalOf, user } from '../support/access-fixture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';

const BUDGET = 20_000;
const ORDERS = [
  ['OLDEST_FIRST', 'first', 'last'],
  ['NEWEST_FIRST', 'last', 'first'],
] as const;

const embedded = (clock: ManualClock) => createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-scan-')), clock });

/**
 * A narrow filter must not make one query read the whole log: a page looks at a bounded
 * number of events (20,000) and, past it, answers with what it found and a cursor to go on
 * from, reading forwards or backwards alike.
 */
function scanBudgetSuite(open: (clock: ManualClock) => Promise<Stores>) {
  const clock = new ManualClock();
  const config = accessConfig();
  const carol = principalOf(user('carol', ['security']), config);
  const alice = principalOf(user('alice', ['engineering']), config);
  const frank = principalOf(user('frank', ['engineering']), config);
  let stores: Stores;
  let service: AuditService;

  beforeAll(async () => {
    stores = await open(clock);
    // The per-person pace (audit-replay-pace.test.ts) would end these pages first: what is tested here is the request's budget.
    service = new AuditService(stores.audit, new AccessPolicy(config), { maxGapMs: 900_000, clock }, new CursorSeal(stores.cursorKeys, clock), new ReplayPace(1e12));
    await stores.audit.append({ type: 'test.needle', outcome: 'SUCCESS', actor: null, data: { n: 'first' } });
    await stores.audit.append({ type: 'test.own', outcome: 'SUCCESS', actor: alice.user.email, data: { n: 'first' } });
    for (let batch = 0; batch < 21; batch++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => stores.audit.append({ type: 'test.hay', outcome: 'SUCCESS', actor: null, data: { i: batch * 1000 + i } })));
    }
    await stores.audit.append({ type: 'test.own', outcome: 'SUCCESS', actor: alice.user.email, data: { n: 'last' } });
    await stores.audit.append({ type: 'test.needle', outcome: 'SUCCESS', actor: null, data: { n: 'last' } });
  }, 120_000);
  afterAll(() => stores.close());

  const needles = (order: AuditOrder, after?: string | null) => service.list(carol, { types: ['test.needle'] }, { first: 5, order, after });
  const own = (order: AuditOrder, after?: string | null) => service.list(alice, {}, { first: 5, order, after });

  /** The last event a page reading in `order` from the end of the log looks at: where its scan budget runs out. */
  async function lastScanned(order: AuditOrder): Promise<AuditEvent> {
    let cursor: string | undefined;
    for (let seen = 0; ; ) {
      const batch = order === 'OLDEST_FIRST' ? await stores.audit.read({ after: cursor, limit: 500 }) : await stores.audit.readBackward({ before: cursor, limit: 500 });
      if (seen + batch.length >= BUDGET) return batch[BUDGET - seen - 1]!;
      seen += batch.length;
      cursor = batch.at(-1)!.id;
    }
  }

  describe('every reader', () => {
    for (const [order, near, far] of ORDERS) {
      it(`stops after 20,000 events ${order === 'OLDEST_FIRST' ? 'forwards' : 'backwards'} and goes on from where it stopped`, async () => {
        const page = await needles(order);
        expect(page.items.map((e) => e.data.n)).toEqual([near]);
        expect(page.hasNextPage).toBe(true);
        const next = await needles(order, page.endCursor);
        expect(next.items.map((e) => e.data.n)).toEqual([far]);
        expect(next.hasNextPage).toBe(false);
      });
    }
  });

  describe('one request', () => {
    it('shares one budget among its listings, so many at once scan about 20,000 events between them, each going on from where it stopped', async () => {
      const read = vi.spyOn(stores.audit, 'read');
      try {
        const budget = new ScanBudget();
        const pages = await Promise.all([1, 2, 3].map(() => service.list(carol, { types: ['test.needle'] }, { first: 5, budget })));
        const scanned = (await Promise.all(read.mock.results.map((r) => r.value as Promise<AuditEvent[]>))).reduce((n, batch) => n + batch.length, 0);
        // Each listing may overrun by the batch it was reading when the budget ran out.
        expect(scanned).toBeLessThanOrEqual(BUDGET + 3 * 500);
        expect(budget.left).toBeLessThanOrEqual(0);
        for (const page of pages) {
          expect(page.items.map((e) => e.data.n)).toEqual(['first']);
          expect(page.hasNextPage).toBe(true);
          let rest = await needles('OLDEST_FIRST', page.endCursor);
          const found = rest.items.map((e) => e.data.n);
          while (rest.hasNextPage) found.push(...(rest = await needles('OLDEST_FIRST', rest.endCursor)).items.map((e) => e.data.n));
          expect(found).toEqual(['last']);
        }
      } finally {
        read.mockRestore();
      }
    });

    it('reads nothing once its budget is spent, and names the cursor it was given to go on from', async () => {
      const page = await service.list(carol, { types: ['test.needle'] }, { first: 5, after: 'x', budget: new ScanBudget(0) });
      expect(page).toEqual({ items: [], endCursor: 'x', hasNextPage: true });
    });

    it('over GraphQL: the aliases of one operation share it, where a single listing scans the whole budget', async () => {
      const schema = await buildPortcullisSchema(createPubSub());
      const run = async (aliases: number) => {
        const fields = Array.from({ length: aliases }, (_, i) => `a${i}: auditEvents(first: 5, filter: { types: ["test.needle"] }) { items { id } pageInfo { endCursor hasNextPage } }`);
        const result = await graphql({ schema, source: `{ ${fields.join(' ')} }`, contextValue: operationContext({ auditService: service } as unknown as GraphQLServices, carol) });
        expect(result.errors).toBeUndefined();
        return Object.values(result.data as Record<string, { pageInfo: { endCursor: string; hasNextPage: boolean } }>).map((page) => page.pageInfo);
      };
      const [alone] = await run(1);
      expect(alone).toEqual({ endCursor: (await lastScanned('OLDEST_FIRST')).id, hasNextPage: true });
      const together = await run(3);
      for (const page of together) {
        expect(page.hasNextPage).toBe(true);
        expect(page.endCursor).not.toBe(alone!.endCursor);
      }
    });
  });

  describe('the chain walk', () => {
    it('runs once per GraphQL operation, however many aliases ask for it', async () => {
      const schema = await buildPortcullisSchema(createPubSub());
      const verify = vi.spyOn(service, 'verify');
      try {
        const source = `{ ${[1, 2, 3].map((i) => `v${i}: auditChainVerification { intact events lastHash }`).join(' ')} }`;
        const result = await graphql({ schema, source, contextValue: operationContext({ auditService: service, config: accessConfig() } as unknown as GraphQLServices, carol) });
        expect(result.errors).toBeUndefined();
        const reports = Object.values(result.data as Record<string, { intact: boolean; events: number; lastHash: string }>);
        expect(reports).toHaveLength(3);
        expect(reports[0]).toMatchObject({ intact: true, events: expect.any(Number) });
        for (const report of reports) expect(report).toEqual(reports[0]);
        expect(verify).toHaveBeenCalledTimes(1);
      } finally {
        verify.mockRestore();
      }
    });
  });

  describe('a reader who may see few of the events', () => {
    for (const [order, near, far] of ORDERS) {
      it(`stopping ${order === 'OLDEST_FIRST' ? 'forwards' : 'backwards'} on another's event, gets a cursor naming neither that event nor its time, and goes on from it`, async () => {
        const stop = await lastScanned(order);
        expect(stop.actor).toBeNull();
        const page = await own(order);
        expect(page.items.map((e) => e.data.n)).toEqual([near]);
        expect(page.hasNextPage).toBe(true);
        // A Redis stream id is the millisecond of the write; the embedded log's is a count of events.
        expect(page.endCursor).not.toContain(stop.id.split('-')[0]);
        const next = await own(order, page.endCursor);
        expect(next.items.map((e) => e.data.n)).toEqual([far]);
        expect(next.hasNextPage).toBe(false);
      });
    }

    it('can start a live feed where a listing stopped', async () => {
      const { endCursor } = await own('OLDEST_FIRST');
      expect(endCursor).toMatch(/^~/);
      const stopped = new AbortController();
      const replayed: unknown[] = [];
      for await (const event of service.follow(alice, {}, endCursor, stopped.signal)) {
        replayed.push(event.data.n);
        stopped.abort();
      }
      expect(replayed).toEqual(['last']);
    });

    it('refuses that cursor altered, from another caller, or sealed by another installation', async () => {
      const { endCursor } = await own('OLDEST_FIRST');
      expect(endCursor).toMatch(/^~/);
      const sealed = endCursor!;
      const refusal = { code: 'INVALID_INPUT', field: 'after' };
      const altered = `${sealed.slice(0, 20)}${sealed[20] === 'A' ? 'B' : 'A'}${sealed.slice(21)}`;
      await expect(own('OLDEST_FIRST', altered)).rejects.toMatchObject(refusal);
      await expect(service.list(frank, {}, { first: 5, after: sealed })).rejects.toMatchObject(refusal);
      const elsewhere = await embedded(clock);
      try {
        const foreign = await new CursorSeal(elsewhere.cursorKeys, clock).seal(`audit:${alice.user.id}`, (await lastScanned('OLDEST_FIRST')).id);
        await expect(own('OLDEST_FIRST', foreign)).rejects.toMatchObject(refusal);
      } finally {
        await elsewhere.close();
      }
    });
  });
}

describe('audit queries keep their scan budget (embedded store)', () => scanBudgetSuite(embedded));
describeWithRedis('audit queries keep their scan budget (Redis store)', () => scanBudgetSuite((clock) => redisStoresForTest({ clock })));
