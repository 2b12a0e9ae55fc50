import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AuditService } from '../../server/audit/audit-service.js';
import { ReplayPace } from '../../server/audit/replay-pace.js';
import type { AuditEvent } from '../../server/audit/types.js';
import type { Principal } from '../../server/identity/principal.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { CursorSeal } from '../../server/stores/sealed-cursor.js';
import type { Stores } from '../../server/stores/types.js';
import { accessConfig, principalOf, user } from '../support/access-fixture.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';

const PER_SECOND = 2_000;
const HAY = 4_000;

const embedded = (clock: ManualClock) => createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-replay-')), clock });

/**
 * A feed replaying from a cursor reads past what its caller may not see (or filtered out)
 * at a bounded pace per caller, all their feeds together, so a person seeing only their own
 * events cannot have the broker parse the whole log at every subscribe; what it hands over
 * and live events are not paced.
 */
function replayPaceSuite(open: (clock: ManualClock) => Promise<Stores>) {
  const clock = new ManualClock();
  const config = accessConfig();
  const carol = principalOf(user('carol', ['security']), config);
  const alice = principalOf(user('alice', ['engineering']), config);
  let stores: Stores;
  let first: AuditEvent;
  const service = (perSecond: number) => new AuditService(stores.audit, new AccessPolicy(config), { maxGapMs: 900_000, clock }, new CursorSeal(stores.cursorKeys, clock), new ReplayPace(perSecond));

  beforeAll(async () => {
    stores = await open(clock);
    first = await stores.audit.append({ type: 'test.own', outcome: 'SUCCESS', actor: alice.user.email, data: { n: 'first' } });
    for (let batch = 0; batch < HAY / 1000; batch++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => stores.audit.append({ type: 'test.hay', outcome: 'SUCCESS', actor: null, data: { i: batch * 1000 + i } })));
    }
    await stores.audit.append({ type: 'test.own', outcome: 'SUCCESS', actor: alice.user.email, data: { n: 'last' } });
    // The feeds below begin after all of these: they are a replay.
    clock.advance(1_000);
  }, 120_000);
  afterAll(() => stores.close());

  /** Follows as `caller` from the first event until an event of type `until` arrives: what came and how long it took. */
  async function replay(audit: AuditService, caller: Principal, until: (event: AuditEvent) => boolean): Promise<{ events: AuditEvent[]; ms: number }> {
    const started = performance.now();
    const events: AuditEvent[] = [];
    for await (const event of audit.follow(caller, {}, first.id, new AbortController().signal)) {
      events.push(event);
      if (until(event)) break;
    }
    return { events, ms: performance.now() - started };
  }

  const isLast = (event: AuditEvent) => event.type === 'test.own' && event.data.n === 'last';

  it("reads past what the caller may not see at no more than its pace (a second's allowance, then the rest)", async () => {
    const { events, ms } = await replay(service(PER_SECOND), alice, isLast);
    expect(events.map((e) => e.data.n)).toEqual(['last']);
    expect(ms).toBeGreaterThanOrEqual(((HAY - PER_SECOND) / PER_SECOND) * 1000 * 0.95);
  });

  it("shares the pace among the person's feeds running at once, whichever sign-in they came through (what they see goes by email)", async () => {
    const audit = service(PER_SECOND);
    const aliceElsewhere = { ...alice, user: { ...alice.user, id: 'partner:transient-7f3a', idp: 'partner', nameId: 'transient-7f3a' } };
    const both = await Promise.all([replay(audit, alice, isLast), replay(audit, aliceElsewhere, isLast)]);
    for (const { events } of both) expect(events.map((e) => e.data.n)).toEqual(['last']);
    expect(Math.max(...both.map((r) => r.ms))).toBeGreaterThanOrEqual(((2 * HAY - PER_SECOND) / PER_SECOND) * 1000 * 0.95);
  });

  it('keeps a spent allowance when the feed ends: ending it and subscribing again reads on no faster', async () => {
    const audit = service(PER_SECOND);
    const spending = audit.follow(alice, {}, first.id, new AbortController().signal)[Symbol.asyncIterator]();
    void spending.next().catch(() => {});
    // By now it read past its whole allowance and waits.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await spending.return!();
    const { events, ms } = await replay(audit, alice, isLast);
    expect(events.map((e) => e.data.n)).toEqual(['last']);
    // With the allowance spent, all of HAY at PER_SECOND; a fresh allowance would take half that.
    expect(ms).toBeGreaterThanOrEqual((HAY / PER_SECOND) * 1000 * 0.8);
  });

  it('paces what listings read past, with the feeds: a page waits for the allowance, nothing lost or repeated', async () => {
    const audit = service(PER_SECOND);
    const started = performance.now();
    const found: unknown[] = [];
    let after: string | null = null;
    let pages = 0;
    for (let more = true; more; pages++) {
      const page = await audit.list(alice, {}, { first: 10, after });
      found.push(...page.items.map((e) => e.data.n));
      ({ endCursor: after, hasNextPage: more } = page);
      
    }
    expect(found).toEqual(['first', 'last']);
    expect(pages).toBeGreaterThanOrEqual(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(((HAY - PER_SECOND) / PER_SECOND) * 1000 * 0.95);
  });

  it('answers a listing that waited its while for a spent allowance with where it stopped, to go on from later', async () => {
    // At one event in 100 s, waiting out the allowance would take hours.
    const audit = service(0.01);
    const page = await audit.list(alice, {}, { first: 10, after: first.id });
    expect(page.items).toEqual([]);
    expect(page.hasNextPage).toBe(true);
    expect(page.endCursor).not.toBeNull();
    expect(page.endCursor).not.toBe(first.id);
  });

  it('hands over every event it may show without pacing: an auditor replays the whole log', async () => {
    const { events } = await replay(service(2), carol, isLast);
    expect(events).toHaveLength(HAY + 1);
    expect(events.filter((e) => e.type === 'test.hay').map((e) => e.data.i)).toEqual(Array.from({ length: HAY }, (_, i) => i));
  });

  it('does not pace live events, and a feed paused by its pace ends as soon as it is left', async () => {
    // At one event in 100 s, the first event read past waits about 100 s: paced, the 200 below would take hours.
    const audit = service(0.01);
    const live = audit.follow(alice, {}, (await stores.audit.readBackward({ limit: 1 }))[0]!.id, new AbortController().signal)[Symbol.asyncIterator]();
    const next = live.next();
    await Promise.all(Array.from({ length: 200 }, (_, i) => stores.audit.append({ type: 'test.hay', outcome: 'SUCCESS', actor: null, data: { live: i } })));
    await stores.audit.append({ type: 'test.own', outcome: 'SUCCESS', actor: alice.user.email, data: { n: 'live' } });
    const started = performance.now();
    expect((await next).value).toMatchObject({ data: { n: 'live' } });
    expect(performance.now() - started).toBeLessThan(20_000);
    await live.return!();

    const paused = audit.follow(alice, {}, first.id, new AbortController().signal)[Symbol.asyncIterator]();
    void paused.next().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    const leaving = performance.now();
    await paused.return!();
    expect(performance.now() - leaving).toBeLessThan(20_000);
  });
}

describe('the replay pace', () => {
  it('keeps an allowance spent by a later read until it has filled again, whatever an earlier read let go of', async () => {
    const pace = new ReplayPace(1_000);
    const small = pace.hold('alice@example.com');
    small.passed(100);
    small.release();
    const large = pace.hold('alice@example.com');
    large.passed(1_900);
    large.release();
    // Past the time the small read alone would have taken to fill again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = pace.hold('alice@example.com');
    expect(next.wait()).toBeInstanceOf(Promise);
    next.release();
  });
});

describe('audit feeds pace what a replay reads past (embedded store)', () => replayPaceSuite(embedded));
describeWithRedis('audit feeds pace what a replay reads past (Redis store)', () => replayPaceSuite((clock) => redisStoresForTest({ clock })));
