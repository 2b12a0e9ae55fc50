import { afterEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../server/config/schema.js';
import type { PortcullisConfig, WebhookSinkConfig } from '../../server/config/schema.js';
import { startDispatcher } from '../../server/notifications/dispatcher.js';
import type { EventSources } from '../../server/notifications/notification-event.js';
import type { Dispatcher } from '../../server/notifications/dispatcher.js';
import { WebhookSink } from '../../server/notifications/webhook-sink.js';
import type { Delivery, NotificationSink } from '../../server/notifications/types.js';
import type { OutboxEntry, Stores } from '../../server/stores/types.js';
import { accessFixture, user, principalOf } from '../support/access-fixture.js';
import { notificationSources } from '../support/notification-sources.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { captureLogs } from '../support/log-capture.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';
import type { Answer } from '../support/webhook-receiver.js';

const SECRET = 'dispatcher-test-secret-0123456789abcdef';
const PARAMS_MARKER = 'sk-live-param-secret-never-sent';

/** Requests on "everything" by engineers; reviewed by bob, named by email (a recipient), and by sre (a group: its members as the user directory knows them). */
const config: PortcullisConfig = configSchema.parse({
  server: { publicUrl: 'https://portcullis.example.com' },
  roles: [
    { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 14400 }] },
    { name: 'lead', members: { emails: ['bob@example.com'] }, review: [{ server: 'everything', tools: ['*'] }] },
    { name: 'sre', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
  ],
  servers: [{ name: 'everything', transport: 'stdio', command: 'node' }],
});

const sources = (stores: Stores): EventSources => notificationSources(config, stores);

const TIMING = { pollMs: 20, renewIntervalMs: 50, leaseTtlMs: 2_000, claimMarginMs: 0 };

function webhook(name: string, url: string, extra: Partial<WebhookSinkConfig> = {}): WebhookSinkConfig {
  return { name, type: 'webhook', url, secret: SECRET, timeoutMs: 5000, events: ['access_request.created', 'access_request.reviewed'], minSeverity: 'medium', maxAttempts: 8, ...extra };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(answer?: (n: number) => Answer) {
  const started = await startWebhookReceiver(SECRET, answer);
  cleanups.push(started.close);
  return started;
}

function dispatch(fx: { stores: Stores; clock: AccessFixture['clock'] }, sinks: WebhookSinkConfig[], stores: Stores = fx.stores): Dispatcher {
  const { logger } = captureLogs({ level: 'silent', secrets: [] });
  const dispatcher = startDispatcher({
    sinks: sinks.map((sinkConfig) => ({ config: sinkConfig, sink: new WebhookSink(sinkConfig, fx.clock) })),
    audit: stores.audit,
    store: stores.notifications,
    sources: sources(stores),
    clock: fx.clock,
    random: () => 0,
    logger,
    timing: TIMING,
  });
  cleanups.push(() => dispatcher.stop());
  return dispatcher;
}

const alice = () => principalOf(user('alice', ['engineering']), config);
const bob = () => principalOf(user('bob', ['sre']), config);

async function request(fx: AccessFixture, tools = ['echo']) {
  return fx.access.createRequest(alice(), { server: 'everything', tools, reason: 'incident 42', durationSeconds: 600 });
}

async function entry(stores: Stores, id: string): Promise<OutboxEntry | null> {
  return stores.notifications.get(id);
}

function suite(backend: Backend) {
  async function fixture(prefix?: string): Promise<AccessFixture> {
    const fx = await accessFixture(backend, { config, ...(prefix ? { prefix } : {}) });
    cleanups.push(() => fx.stores.close());
    return fx;
  }

  it('a receiver that verifies the signature gets each new request, then its review, once, with no secret; reviewers are not looked up for a sink that addresses no one', async () => {
    const fx = await fixture();
    const hook = await receiver();
    dispatch(fx, [webhook('ops', hook.url)]);
    const created = await request(fx);
    await fx.access.reviewRequest(bob(), { requestId: created.id, decision: 'APPROVE' });
    await vi.waitFor(() => expect(hook.received).toHaveLength(2), { timeout: 10_000 });
    expect(hook.received.every((r) => r.verified)).toBe(true);
    // Deliveries of one sink run side by side: in any order.
    const bodies = hook.received
      .map((r) => JSON.parse(r.body) as { id: string; event: { type: string; request: { id: string; status: string; tools: string[] }; links: { console: string } } })
      .sort((a, b) => a.event.type.localeCompare(b.event.type));
    expect(bodies.map((b) => [b.event.type, b.event.request.status])).toEqual([
      ['access_request.created', 'PENDING'],
      ['access_request.reviewed', 'APPROVED'],
    ]);
    expect(bodies[0]!.event.request).toMatchObject({ id: created.id, requester: 'alice@example.com', server: 'everything', tools: ['echo'], durationSeconds: 600, reason: 'incident 42' });
    expect(bodies[0]!.event.links.console).toBe(`https://portcullis.example.com/review?request=${created.id}`);
    expect(new Set(hook.ids()).size).toBe(2);
    expect(hook.ids().every((id) => id.startsWith('ops:'))).toBe(true);
    await vi.waitFor(async () => expect(await entry(fx.stores, bodies[0]!.id)).toMatchObject({ status: 'DELIVERED', attempts: 1, recipients: [] }), { timeout: 10_000 });
  });

  it('sends no tool-call parameters and no token, even when the audit log holds them', async () => {
    const fx = await fixture();
    const hook = await receiver();
    dispatch(fx, [webhook('ops', hook.url, { events: ['mcp.request', 'access_request.created'] })]);
    await fx.stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', server: 'everything', tool: 'echo', data: { params: { arguments: { apiKey: PARAMS_MARKER } }, token: PARAMS_MARKER } });
    await request(fx);
    await vi.waitFor(() => expect(hook.received).toHaveLength(2), { timeout: 10_000 });
    for (const { body } of hook.received) expect(body).not.toContain(PARAMS_MARKER);
    expect(JSON.parse(hook.received[0]!.body)).toMatchObject({ event: { type: 'mcp.request', actor: 'alice@example.com' } });
  });

  it('a receiver that fails then recovers gets the delivery after retries, under the same id', async () => {
    const fx = await fixture();
    const hook = await receiver((n) => (n < 2 ? 503 : 200));
    dispatch(fx, [webhook('ops', hook.url, { events: ['access_request.created'] })]);
    await request(fx);
    await vi.waitFor(() => expect(hook.received).toHaveLength(3), { timeout: 10_000 });
    expect(new Set(hook.ids()).size).toBe(1);
    await vi.waitFor(async () => expect(await entry(fx.stores, hook.ids()[0]!)).toMatchObject({ status: 'DELIVERED', attempts: 3 }), { timeout: 10_000 });
  });

  it('a hanging receiver is timed out and retried, and does not delay another sink', async () => {
    const fx = await fixture();
    const hanging = await receiver((n) => (n === 0 ? 'hang' : 200));
    const quick = await receiver();
    dispatch(fx, [webhook('slow', hanging.url, { timeoutMs: 1_000, events: ['access_request.created'] }), webhook('fast', quick.url, { events: ['access_request.created'] })]);
    await request(fx);
    await vi.waitFor(() => expect(quick.received).toHaveLength(1), { timeout: 10_000 });
    await vi.waitFor(() => expect(hanging.received).toHaveLength(2), { timeout: 10_000 });
    expect(hanging.ids()[0]).toBe(hanging.ids()[1]);
    await vi.waitFor(async () => expect(await entry(fx.stores, hanging.ids()[0]!)).toMatchObject({ status: 'DELIVERED', attempts: 2 }), { timeout: 10_000 });
  });

  it('a refusal (4xx) is a dead letter at once; requeued, it is delivered', async () => {
    const fx = await fixture();
    const hook = await receiver((n) => (n === 0 ? 400 : 200));
    const dispatcher = dispatch(fx, [webhook('ops', hook.url, { events: ['access_request.created'] })]);
    await request(fx);
    await vi.waitFor(() => expect(hook.received).toHaveLength(1), { timeout: 10_000 });
    const id = hook.ids()[0]!;
    await vi.waitFor(async () => expect(await entry(fx.stores, id)).toMatchObject({ status: 'DEAD', attempts: 1, lastError: 'HTTP 400' }), { timeout: 10_000 });
    const dead = (await entry(fx.stores, id))!;
    expect(await fx.stores.notifications.update({ ...dead, status: 'PENDING', attempts: 0, dueAt: fx.clock.now(), lastError: null, version: dead.version + 1 }, fx.clock.now() + 60_000)).toBe(true);
    dispatcher.wake();
    await vi.waitFor(async () => expect(await entry(fx.stores, id)).toMatchObject({ status: 'DELIVERED' }), { timeout: 10_000 });
    expect(hook.ids()).toEqual([id, id]);
  });

  it('what a delivery leaves (memo) is handed to the next delivery of the same request to that sink', async () => {
    const fx = await fixture();
    const seen: Delivery[] = [];
    // A sink that, like Slack, posts once and updates afterwards: it remembers its message by the memo.
    const threaded: NotificationSink = {
      name: 'threaded',
      deliver: async (delivery) => {
        seen.push(delivery);
        return { ok: true, memo: { message: `m-${delivery.event.request?.id}` } };
      },
    };
    const sinkConfig = webhook('threaded', 'https://unused.example.com/');
    const { logger } = captureLogs({ level: 'silent', secrets: [] });
    const dispatcher = startDispatcher({ sinks: [{ config: sinkConfig, sink: threaded }], audit: fx.stores.audit, store: fx.stores.notifications, sources: sources(fx.stores), clock: fx.clock, logger, timing: TIMING });
    cleanups.push(() => dispatcher.stop());
    const created = await request(fx);
    await vi.waitFor(async () => expect(await entry(fx.stores, seen[0]?.id ?? '')).toMatchObject({ status: 'DELIVERED' }), { timeout: 10_000 });
    await fx.access.reviewRequest(bob(), { requestId: created.id, decision: 'DENY', reason: 'not now' });
    await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 10_000 });
    expect(seen.map((d) => [d.event.type, d.memo])).toEqual([
      ['access_request.created', null],
      ['access_request.reviewed', { message: `m-${created.id}` }],
    ]);
  });

  it('an instance stopped mid-delivery: the next one on the same store resumes without losing or adding a delivery', async () => {
    const fx = await fixture();
    const hook = await receiver((n) => (n === 0 ? 'hang' : 200));
    const first = dispatch(fx, [webhook('ops', hook.url, { events: ['access_request.created'] })]);
    await request(fx);
    await vi.waitFor(() => expect(hook.received).toHaveLength(1), { timeout: 10_000 });
    await first.stop();
    // Filed while no dispatcher runs: the committed cursor brings it in on the next start.
    await request(fx);
    // The stopped instance's claim lapses (its timeout plus margin): the clock is moved past it.
    fx.clock.advance(10_000);
    dispatch(fx, [webhook('ops', hook.url, { events: ['access_request.created'] })]);
    await vi.waitFor(() => expect(new Set(hook.ids()).size).toBe(2), { timeout: 10_000 });
    const ids = hook.ids();
    // At least once with a stable id: the interrupted one again (same id), the new one once.
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(ids.find((id, i) => i > 0 && id === ids[0]));
    for (const id of new Set(ids)) await vi.waitFor(async () => expect(await entry(fx.stores, id)).toMatchObject({ status: 'DELIVERED' }), { timeout: 10_000 });
  });
}

describe('notification dispatcher (embedded store)', () => suite('embedded'));
describeWithRedis('notification dispatcher (Redis store)', () => {
  suite('redis');

  it('two instances on one Redis deliver each notification once', async () => {
    const prefix = uniquePrefix();
    const fx = await accessFixture('redis', { config, prefix });
    const other = await redisStoresForTest({ prefix, clock: fx.clock });
    cleanups.push(() => fx.stores.close(), () => other.close());
    const hook = await receiver();
    const sinks = [webhook('ops', hook.url, { events: ['access_request.created'] })];
    dispatch(fx, sinks);
    dispatch(fx, sinks, other);
    for (let i = 0; i < 10; i++) await request(fx);
    await vi.waitFor(() => expect(hook.received).toHaveLength(10), { timeout: 15_000 });
    // Settled: nothing more arrives once every entry is recorded delivered.
    const entries = await fx.stores.notifications.entries();
    await vi.waitFor(async () => expect((await fx.stores.notifications.entries()).every((e) => e.status === 'DELIVERED')).toBe(true), { timeout: 10_000 });
    expect(entries).toHaveLength(10);
    expect(new Set(hook.ids()).size).toBe(10);
    expect(hook.received).toHaveLength(10);
  });
});
