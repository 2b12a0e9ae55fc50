import { afterEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../server/config/schema.js';
import type { NotificationSinkConfig, PortcullisConfig } from '../../server/config/schema.js';
import { startDispatcher } from '../../server/notifications/dispatcher.js';
import { createSink } from '../../server/notifications/sinks.js';
import type { OutboxEntry, Stores } from '../../server/stores/types.js';
import { accessFixture, principalOf, user } from '../support/access-fixture.js';
import { notificationSources } from '../support/notification-sources.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { captureLogs } from '../support/log-capture.js';
import { describeWithRedis } from '../support/redis.js';
import { startSlackReceiver } from '../support/slack-receiver.js';
import type { SlackReceiver } from '../support/slack-receiver.js';

const TOKEN = 'xoxb-1111-2222-portcullis-test-token';
const TIMING = { pollMs: 20, renewIntervalMs: 50, leaseTtlMs: 2_000, claimMarginMs: 0 };

const base = {
  server: { publicUrl: 'https://portcullis.example.com' },
  roles: [
    { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 14400 }] },
    { name: 'sre', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
  ],
  servers: [{ name: 'everything', transport: 'stdio', command: 'node' }],
};

/** A Slack bot sink posting to `slack`: a request's message is posted, then updated when it is decided. */
const configFor = (slack: SlackReceiver): PortcullisConfig =>
  configSchema.parse({
    ...base,
    notifications: { sinks: [{ type: 'slack', name: 'chat', botToken: TOKEN, channel: 'C0PORTCULL', apiBaseUrl: slack.apiBaseUrl, events: ['access_request.created', 'access_request.reviewed'] }] },
  });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function suite(backend: Backend) {
  async function setUp() {
    const slack = await startSlackReceiver({ token: TOKEN });
    cleanups.push(slack.close);
    const config = configFor(slack);
    const fx = await accessFixture(backend, { config });
    cleanups.push(() => fx.stores.close());
    const { logger } = captureLogs({ level: 'silent', secrets: [] });
    const sinkConfig: NotificationSinkConfig = config.notifications.sinks[0]!;
    const dispatcher = startDispatcher({
      sinks: [{ config: sinkConfig, sink: createSink(sinkConfig, { clock: fx.clock, logger }) }],
      audit: fx.stores.audit,
      store: fx.stores.notifications,
      sources: notificationSources(config, fx.stores),
      clock: fx.clock,
      random: () => 0,
      logger,
      timing: TIMING,
    });
    cleanups.push(() => dispatcher.stop());
    const alice = principalOf(user('alice', ['engineering']), config);
    const bob = principalOf(user('bob', ['sre']), config);
    const request = (tools: string[]) => fx.access.createRequest(alice, { server: 'everything', tools, reason: 'incident 42', durationSeconds: 600 });
    const approve = (requestId: string) => fx.access.reviewRequest(bob, { requestId, decision: 'APPROVE' });
    return { slack, fx, dispatcher, request, approve };
  }

  const deliveryOf = async (stores: Stores, type: string, requestId: string): Promise<OutboxEntry | undefined> =>
    (await stores.notifications.entries()).find((e) => e.event.type === type && e.event.request?.id === requestId);

  /** The decision's delivery was looked at and put off: untried, unclaimed, due later. */
  async function putOff(fx: AccessFixture, requestId: string): Promise<void> {
    await vi.waitFor(async () => expect(await deliveryOf(fx.stores, 'access_request.reviewed', requestId)).toMatchObject({ version: 2, claimedBy: null }), { timeout: 10_000 });
    expect(await deliveryOf(fx.stores, 'access_request.reviewed', requestId)).toMatchObject({ status: 'PENDING', attempts: 0, lastError: null });
  }

  /** A request whose first post Slack holds unanswered, approved meanwhile: its decision's delivery is put off. */
  async function decidedWhileFirstHeld() {
    const setup = await setUp();
    const { slack, fx, request, approve } = setup;
    const held = slack.holdNext();
    const first = await request(['echo']);
    await held.arrived;
    await approve(first.id);
    await putOff(fx, first.id);
    return { ...setup, held, first };
  }

  it('a decision made while the first post is still in flight waits for it, then updates that message: one message, updated; other deliveries go on meanwhile', async () => {
    const { slack, fx, request, held, first } = await decidedWhileFirstHeld();
    // Not blocked by the waiting follow-up: another request's message goes out meanwhile.
    const other = await request(['add']);
    await vi.waitFor(() => expect(slack.calls).toHaveLength(1), { timeout: 10_000 });
    held.release();
    await vi.waitFor(async () => expect(await deliveryOf(fx.stores, 'access_request.created', first.id)).toMatchObject({ status: 'DELIVERED' }), { timeout: 10_000 });
    fx.clock.advance(1_000);
    await vi.waitFor(async () => expect(await deliveryOf(fx.stores, 'access_request.reviewed', first.id)).toMatchObject({ status: 'DELIVERED', attempts: 1 }), { timeout: 10_000 });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.postMessage', 'chat.update']);
    const posted = await fx.stores.notifications.memo(`chat:${first.id}`);
    expect(posted).not.toEqual(await fx.stores.notifications.memo(`chat:${other.id}`));
    expect(slack.calls[2]!.body).toMatchObject({ channel: posted!.channel, ts: posted!.ts });
    expect(slack.calls[2]!.body.text).toMatch(/^Access request approved/i);
  });

  it('when the first post dies, the decision is posted as a message of its own', async () => {
    const { slack, fx, held, first } = await decidedWhileFirstHeld();
    slack.refusals.push({ error: 'channel_not_found' });
    held.release();
    await vi.waitFor(async () => expect(await deliveryOf(fx.stores, 'access_request.created', first.id)).toMatchObject({ status: 'DEAD' }), { timeout: 10_000 });
    fx.clock.advance(1_000);
    await vi.waitFor(async () => expect(await deliveryOf(fx.stores, 'access_request.reviewed', first.id)).toMatchObject({ status: 'DELIVERED', attempts: 1 }), { timeout: 10_000 });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage']);
    expect(slack.calls[0]!.body.text).toMatch(/^Access request approved/i);
  });
}

describe('slack follow-ups wait for the first message (embedded store)', () => suite('embedded'));
describeWithRedis('slack follow-ups wait for the first message (Redis store)', () => suite('redis'));
