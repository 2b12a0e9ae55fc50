import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookSinkConfig } from '../../server/config/schema.js';
import type { Delivery } from '../../server/notifications/types.js';
import { WebhookSink } from '../../server/notifications/webhook-sink.js';
import { ManualClock } from '../support/manual-clock.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'receiver-secret-0123456789abcdef0123456789';
const delivery: Delivery = {
  id: 'ops:1700000000000-0',
  sink: 'ops',
  attempt: 1,
  memo: null,
  recipients: [],
  event: { id: '1700000000000-0', type: 'access_request.created', time: '2026-11-30T05:00:00.000Z', actor: 'alice@example.com', links: { console: 'https://portcullis.example.com/review' } },
};

const config = (url: string, timeoutMs = 5000): WebhookSinkConfig => ({
  name: 'ops',
  type: 'webhook',
  url,
  secret: SECRET,
  timeoutMs,
  events: ['access_request.created'],
  minSeverity: 'medium',
  maxAttempts: 8,
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function receiver(answer?: Parameters<typeof startWebhookReceiver>[1]) {
  const started = await startWebhookReceiver(SECRET, answer);
  closers.push(started.close);
  return started;
}

describe('webhook sink', () => {
  it('posts the delivery as JSON with its id, event type and a signature the receiver verifies over timestamp and body', async () => {
    const hook = await receiver();
    const clock = new ManualClock(Date.parse('2026-11-30T05:00:00Z'));
    expect(await new WebhookSink(config(hook.url), clock).deliver(delivery, new AbortController().signal)).toEqual({ ok: true });
    const [request] = hook.received;
    expect(request?.verified).toBe(true);
    expect(request?.headers).toMatchObject({ 'portcullis-delivery': delivery.id, 'portcullis-event': 'access_request.created', 'content-type': 'application/json' });
    expect(request?.headers['portcullis-signature']).toMatch(new RegExp(`^t=${clock.now() / 1000},v1=[0-9a-f]{64}$`));
    expect(JSON.parse(request!.body)).toEqual({ id: delivery.id, event: delivery.event });
  });

  it('a receiver with another secret cannot verify it', async () => {
    const hook = await receiver();
    await new WebhookSink({ ...config(hook.url), secret: 'another-secret-0123456789abcdef0123456789' }).deliver(delivery, new AbortController().signal);
    expect(hook.received[0]?.verified).toBe(false);
  });

  it('asks for a retry on 408, 429, 5xx and a refused connection; a dead letter on other 4xx; never follows a redirect', async () => {
    const statuses = [408, 429, 500, 503, 400, 404, 410, 302];
    const hook = await receiver((n) => statuses[n]!);
    const sink = new WebhookSink(config(hook.url));
    const outcomes = [];
    for (const _ of statuses) outcomes.push(await sink.deliver(delivery, new AbortController().signal));
    expect(outcomes).toEqual([
      { ok: false, retry: true, error: 'HTTP 408' },
      { ok: false, retry: true, error: 'HTTP 429' },
      { ok: false, retry: true, error: 'HTTP 500' },
      { ok: false, retry: true, error: 'HTTP 503' },
      { ok: false, retry: false, error: 'HTTP 400' },
      { ok: false, retry: false, error: 'HTTP 404' },
      { ok: false, retry: false, error: 'HTTP 410' },
      { ok: false, retry: false, error: 'redirect 302 not followed' },
    ]);
    const closed = await receiver();
    await closed.close();
    expect(await new WebhookSink(config(closed.url)).deliver(delivery, new AbortController().signal)).toEqual({ ok: false, retry: true, error: 'network error' });
  });

  it('aborts a receiver that does not answer within timeoutMs, for a retry', async () => {
    const hook = await receiver(() => 'hang');
    expect(await new WebhookSink(config(hook.url, 200)).deliver(delivery, new AbortController().signal)).toEqual({ ok: false, retry: true, error: 'timed out' });
    expect(hook.received).toHaveLength(1);
  });

  it('does not follow a redirect to another receiver', async () => {
    const target = await receiver();
    const redirecting = createServer((_req, res) => res.writeHead(307, { location: target.url }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => redirecting.close(() => resolve())));
    const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/hook`;
    expect(await new WebhookSink(config(url)).deliver(delivery, new AbortController().signal)).toEqual({ ok: false, retry: false, error: 'redirect 307 not followed' });
    expect(target.received).toHaveLength(0);
  });
});
