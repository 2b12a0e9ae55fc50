import { afterEach, expect, it, vi } from 'vitest';
import { startBrokerPair } from '../support/broker-pair.js';
import { describeWithRedis } from '../support/redis.js';
import { postGraphQL } from '../support/test-server.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'broker-pair-webhook-secret-0123456789abcdef';
const REQUEST = 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "pair", durationSeconds: 600 }) { id } }';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describeWithRedis('notifications from two brokers on one Redis', () => {
  it('each request reaches the receiver once while both run, and after one stops the other goes on from where it was', async () => {
    const hook = await startWebhookReceiver(SECRET);
    cleanups.push(hook.close);
    const pair = await startBrokerPair({ notifications: { sinks: [{ name: 'ops', type: 'webhook', url: hook.url, secret: SECRET, events: ['access_request.created'] }] } });
    // A is stopped by the test itself; B at the end.
    cleanups.push(() => pair.b.close());
    const file = async (url: string) => expect((await postGraphQL(url, { query: REQUEST }, { cookie: pair.a.cookie })).body.errors).toBeUndefined();

    for (let i = 0; i < 5; i++) await file(i % 2 === 0 ? pair.a.server.url : pair.b.url);
    await vi.waitFor(() => expect(hook.received).toHaveLength(5), { timeout: 15_000 });

    // A stops (releasing its lease): B takes the outbox over from the committed cursor.
    await pair.a.close();
    for (let i = 0; i < 3; i++) await file(pair.b.url);
    await vi.waitFor(() => expect(hook.received).toHaveLength(8), { timeout: 15_000 });
    await vi.waitFor(async () => expect((await pair.b.stores.notifications.entries()).every((e) => e.status === 'DELIVERED')).toBe(true), { timeout: 15_000 });
    expect(hook.received).toHaveLength(8);
    expect(new Set(hook.ids()).size).toBe(8);
    expect(hook.received.every((r) => r.verified)).toBe(true);
  });
});
