import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { slackSinkConfig } from '../../server/notifications/slack-config.js';
import { SlackSink } from '../../server/notifications/slack-sink.js';
import type { Delivery, NotificationEvent } from '../../server/notifications/types.js';
import { captureLogs } from '../support/log-capture.js';
import { anAnomaly, notificationDelivery, pendingRequest } from '../support/notification-fixture.js';
import { startSlackReceiver } from '../support/slack-receiver.js';
import type { SlackCall, SlackReceiver } from '../support/slack-receiver.js';

const TOKEN = 'xoxb-1111-2222-portcullis-test-token';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function receiver(): Promise<SlackReceiver> {
  const started = await startSlackReceiver({ token: TOKEN });
  cleanups.push(() => started.close());
  return started;
}

const botSink = (slack: SlackReceiver, logs = captureLogs(), token = TOKEN) =>
  new SlackSink(slackSinkConfig.parse({ type: 'slack', name: 'chat', botToken: token, channel: 'C0PORTCULL', apiBaseUrl: slack.apiBaseUrl }), logs.logger);
const webhookSink = (slack: SlackReceiver, logs = captureLogs()) => new SlackSink(slackSinkConfig.parse({ type: 'slack', name: 'chat', webhookUrl: slack.webhookUrl }), logs.logger);
const delivery = (event: Partial<NotificationEvent> = {}): Delivery => notificationDelivery('chat', event, []);
const signal = () => new AbortController().signal;

/** Every text a person sees in the message: the fallback, the header, the sections and fields, the buttons' labels. */
function visibleText(call: SlackCall): string {
  return [call.body.text, JSON.stringify(call.body.blocks)].join('\n');
}
const buttons = (call: SlackCall) =>
  (call.body.blocks.find((block) => block.type === 'actions')!.elements as { text: { text: string }; url: string; style?: string }[]).map((b) => ({ label: b.text.text, url: b.url, style: b.style }));

describe('slack sink: the message', () => {
  it('posts a new request through an incoming webhook, naming requester, server, tools, duration and reason, with URL buttons to the console', async () => {
    const slack = await receiver();
    expect(await webhookSink(slack).deliver(delivery(), signal())).toEqual({ ok: true });
    expect(slack.calls).toHaveLength(1);
    const [call] = slack.calls;
    expect(call!.method).toBe('webhook');
    expect(call!.body.text).toBe('Access request: carol@example.com on payments-db');
    for (const fact of ['carol@example.com', 'payments-db', 'query, export_rows', '1h30m', 'Incident INC-42: reconcile refunds']) expect(visibleText(call!)).toContain(fact);
    expect(buttons(call!)).toEqual([
      { label: 'Approve', url: 'https://portcullis.example.com/console/requests/req-7?decide=approve', style: 'primary' },
      { label: 'Deny', url: 'https://portcullis.example.com/console/requests/req-7?decide=deny', style: 'danger' },
      { label: 'Open in the console', url: 'https://portcullis.example.com/console/requests/req-7', style: undefined },
    ]);
  });

  it('never reads a reason as mrkdwn: it cannot mention a channel or disguise a link, and the fallback text is escaped', async () => {
    const slack = await receiver();
    await webhookSink(slack).deliver(delivery({ request: { ...pendingRequest, requester: 'carol<!channel>@example.com', reason: 'see <!channel> and <https://evil.example|the runbook> & more' } }), signal());
    const call = slack.calls[0]!;
    expect(mrkdwnTexts(call)).toEqual([]);
    expect(call.body.text).not.toContain('<!channel>');
    expect(call.body.text).toContain('carol&lt;!channel&gt;@example.com');
  });

  it('a reason with mrkdwn formatting and line breaks stays one plain line in its own field: no bold fake field beside the real ones', async () => {
    const slack = await receiver();
    const reason = 'routine\n\n*Pre-approved by*\nCISO _(ticket SEC-1)_ ~no~ `review`\r\n*Status*\nAPPROVED';
    await webhookSink(slack).deliver(delivery({ request: { ...pendingRequest, reason, tools: ['query*bold*', 'x_y_'] } }), signal());
    const call = slack.calls[0]!;
    expect(mrkdwnTexts(call)).toEqual([]);
    const fields = call.body.blocks.flatMap((block) => (block.fields as { type: string; text: string }[] | undefined) ?? []);
    expect(fields.map((field) => [field.type, field.text.split('\n')[0]])).toEqual([
      ['plain_text', 'Requester'],
      ['plain_text', 'Server'],
      ['plain_text', 'Tools'],
      ['plain_text', 'Duration'],
      ['plain_text', 'Reason'],
    ]);
    expect(fields.at(-1)!.text).toBe('Reason\nroutine *Pre-approved by* CISO _(ticket SEC-1)_ ~no~ `review` *Status* APPROVED');
  });
});

/** Every block text Slack would read as mrkdwn (a requester's words must be in none). */
function mrkdwnTexts(call: SlackCall): unknown[] {
  const found: unknown[] = [];
  JSON.stringify(call.body.blocks, (key, value: unknown) => {
    if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'mrkdwn') found.push(value);
    return value;
  });
  return found;
}

describe('slack sink: the bot posts, then updates the message when the request is decided or expires', () => {
  it('posts with chat.postMessage and keeps the channel and ts as the memo', async () => {
    const slack = await receiver();
    const outcome = await botSink(slack).deliver(delivery(), signal());
    expect(outcome).toEqual({ ok: true, memo: { channel: 'C0PORTCULL', ts: '1764480000.000001' } });
    expect(slack.calls[0]).toMatchObject({ method: 'chat.postMessage', authorization: `Bearer ${TOKEN}`, body: { channel: 'C0PORTCULL' } });
  });

  it('rewrites that message with chat.update after the decision, without the Approve and Deny buttons', async () => {
    const slack = await receiver();
    const sink = botSink(slack);
    const posted = await sink.deliver(delivery(), signal());
    const memo = posted.ok ? (posted.memo ?? null) : null;
    const decided = { ...delivery({ id: 'evt-2', type: 'access_request.reviewed', actor: 'alice@example.com', request: { ...pendingRequest, status: 'approved' } }), memo };
    expect(await sink.deliver(decided, signal())).toEqual({ ok: true, memo });
    expect(slack.calls.map((call) => call.method)).toEqual(['chat.postMessage', 'chat.update']);
    const update = slack.calls[1]!;
    expect(update.body).toMatchObject({ channel: 'C0PORTCULL', ts: '1764480000.000001', text: 'Access request approved: carol@example.com on payments-db' });
    expect(visibleText(update)).toContain('The request was approved by alice@example.com.');
    expect(buttons(update).map((b) => b.label)).toEqual(['Open in the console']);
  });

  it('posts a follow-up as a new message when no earlier message is known, and an anomaly as its own', async () => {
    const slack = await receiver();
    const sink = botSink(slack);
    await sink.deliver(delivery({ id: 'evt-3', type: 'access_request.expired', actor: null, request: { ...pendingRequest, status: 'expired' } }), signal());
    await sink.deliver(delivery({ id: 'evt-4', type: 'anomaly.detected', request: undefined, anomaly: anAnomaly, links: { console: 'https://portcullis.example.com/console/anomalies/an-1' } }), signal());
    expect(slack.calls.map((call) => [call.method, call.body.text])).toEqual([
      ['chat.postMessage', 'Access request expired: carol@example.com on payments-db'],
      ['chat.postMessage', 'Anomaly (high): bulk_export for dave@example.com'],
    ]);
    expect(visibleText(slack.calls[1]!)).toContain('412 export calls in 5 minutes');
  });
});

describe('slack sink: outcomes', () => {
  it('retries a 429, a 5xx and a rate-limited Web API answer; not a 404 webhook nor a channel_not_found', async () => {
    const slack = await receiver();
    slack.refusals.push({ status: 429 }, { status: 503 }, { status: 404 });
    const hook = webhookSink(slack);
    expect(await hook.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'slack http 429' });
    expect(await hook.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'slack http 503' });
    expect(await hook.deliver(delivery(), signal())).toEqual({ ok: false, retry: false, error: 'slack http 404' });
    slack.refusals.push({ error: 'ratelimited' }, { error: 'channel_not_found' });
    const bot = botSink(slack);
    expect(await bot.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'slack ratelimited' });
    expect(await bot.deliver(delivery(), signal())).toEqual({ ok: false, retry: false, error: 'slack channel_not_found' });
    expect(slack.calls).toHaveLength(0);
  });

  it('reports an unreachable and a silent Slack as worth a retry', async () => {
    const slack = await receiver();
    const sink = webhookSink(slack);
    await slack.close();
    expect(await sink.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'slack unreachable' });
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const webhookUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/services/T/B/x`;
    const hung = new SlackSink(slackSinkConfig.parse({ type: 'slack', name: 'chat', webhookUrl, timeoutMs: 300 }));
    expect(await hung.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'slack timed out' });
  });

  it('never puts the bot token or the webhook URL in a log line or an outcome', async () => {
    const slack = await receiver();
    const logs = captureLogs();
    const refused = await botSink(slack, logs, 'xoxb-9999-revoked-token-value').deliver(delivery(), signal());
    expect(refused).toEqual({ ok: false, retry: false, error: 'slack invalid_auth' });
    slack.refusals.push({ status: 500 });
    const failed = await webhookSink(slack, logs).deliver(delivery(), signal());
    const written = logs.lines.join('') + JSON.stringify([refused, failed]);
    expect(written).toContain('slack: delivery failed');
    for (const secret of ['xoxb-9999-revoked-token-value', 'webhook-secret-7d1e']) expect(written).not.toContain(secret);
  });
});

describe('slack sink: configuration', () => {
  it('takes exactly one of webhookUrl and botToken, a channel with the token, and https (http only on loopback)', () => {
    const issues = (value: Record<string, unknown>) => slackSinkConfig.safeParse({ type: 'slack', name: 'chat', ...value }).error?.issues.map((i) => [i.path.join('.'), i.message]);
    expect(issues({})).toEqual([['webhookUrl', 'expected exactly one of webhookUrl and botToken']]);
    expect(issues({ webhookUrl: 'https://hooks.slack.com/services/T/B/x', botToken: TOKEN, channel: 'C1' })).toEqual([['webhookUrl', 'expected exactly one of webhookUrl and botToken']]);
    expect(issues({ botToken: TOKEN })).toEqual([['channel', 'expected the channel the bot posts to']]);
    expect(issues({ webhookUrl: 'http://hooks.example.com/services/T/B/x' })?.[0]?.[1]).toContain('http only on a loopback address');
    expect(slackSinkConfig.parse({ type: 'slack', name: 'chat', botToken: TOKEN, channel: 'C1' }).apiBaseUrl).toBe('https://slack.com/api');
  });
});
