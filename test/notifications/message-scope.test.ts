import { describe, expect, it } from 'vitest';
import { builtOrRefused, describeEvent } from '../../server/notifications/message-content.js';
import { notificationOf } from '../../server/notifications/notification-event.js';
import { composeSlack, SLACK_ACTION_IDS } from '../../server/notifications/slack-message.js';
import type { NotificationEvent } from '../../server/notifications/types.js';
import { notificationDelivery, pendingRequest } from '../support/notification-fixture.js';

/**
 * A reviewer deciding from a message (Slack, email) sees all a request asks for and how it
 * came, as the console's review card shows it; Slack decides Approve only on a message that
 * shows all of it, and never for a request a model filed.
 */

const created = (request: Partial<NonNullable<NotificationEvent['request']>>): NotificationEvent => notificationDelivery('slack', { request: { ...pendingRequest, ...request } }).event;
const facts = (event: NotificationEvent) => Object.fromEntries(describeEvent(event).lines);
const buttons = (event: NotificationEvent) => {
  const actions = composeSlack(describeEvent(event), pendingRequest.id).blocks.find((block) => (block as { type: string }).type === 'actions') as { elements: { text: { text: string }; action_id: string; url?: string }[] };
  return Object.fromEntries(actions.elements.map((b) => [b.text.text, b.url === undefined ? b.action_id : 'url']));
};

describe('an access request in a message', () => {
  it('names the resources, prompts and read-only limit it asks for beside its tools', () => {
    const shown = facts(created({ tools: [], resources: ['file:///srv/*'], prompts: ['*'], readOnly: true }));
    expect(shown).toMatchObject({ Tools: '(none)', Resources: 'file:///srv/*', Prompts: '*', 'Read-only': expect.stringContaining('yes') });
    expect(facts(created({}))).not.toHaveProperty('Resources');
  });

  it('says a model filed it, and leaves its approval to the console: Deny still decides from Slack', () => {
    const event = created({ filedByAgent: { client: 'Claude Desktop' } });
    const content = describeEvent(event);
    expect(content.lead).toContain('A model acting for carol@example.com');
    expect(facts(event)['Filed by']).toContain('a model in Claude Desktop');
    expect(buttons(event)).toEqual({ Approve: 'url', Deny: SLACK_ACTION_IDS.deny, 'Open in the console': 'url' });
    expect(buttons(created({}))).toEqual({ Approve: SLACK_ACTION_IDS.approve, Deny: SLACK_ACTION_IDS.deny, 'Open in the console': 'url' });
  });

  it('is approved from Slack only when no fact was cut to fit: a long list could hide a tool past the cut', () => {
    const tools = Array.from({ length: 50 }, (_, n) => `harmless_tool_number_${n}_${'x'.repeat(20)}`);
    expect(buttons(created({ tools }))).toEqual({ Approve: 'url', Deny: SLACK_ACTION_IDS.deny, 'Open in the console': 'url' });
  });
});

describe('a request\'s notification read from its created event (before the request is stored)', () => {
  it('carries its resources, prompts, read-only limit and the model that filed it', async () => {
    const event = {
      id: '1-0',
      type: 'access_request.created',
      outcome: 'SUCCESS',
      actor: 'carol@example.com',
      server: 'payments-db',
      tool: null,
      sessionId: null,
      time: '2026-12-01T00:00:00.000Z',
      prevHash: '',
      hash: '',
      data: { requestId: 'req-9', requester: 'carol@example.com', tools: ['query'], resources: ['db://x/*'], prompts: ['p'], readOnly: true, durationSeconds: 600, reason: 'r', filedByAgent: { client: 'Cursor', sessionId: 's-1' } },
    } as const;
    const sources = { access: { getRequest: async () => null }, reviewers: { addressesFor: async () => [] }, publicUrl: 'https://portcullis.example.com' };
    const { event: notification } = await notificationOf({ ...event, data: { ...event.data } }, sources, false);
    expect(notification.request).toMatchObject({ id: 'req-9', tools: ['query'], resources: ['db://x/*'], prompts: ['p'], readOnly: true, filedByAgent: { client: 'Cursor' } });
    expect(notification.request).not.toHaveProperty('filedByAgent.sessionId');
  });
});

describe('a delivery an older version queued', () => {
  it('is described without the request fields it lacks, and a message that cannot be built fails once, for good', () => {
    const { resources: _r, prompts: _p, readOnly: _o, filedByAgent: _f, ...older } = pendingRequest;
    const event = notificationDelivery('slack', { request: older }).event;
    expect(Object.fromEntries(describeEvent(event).lines)).toMatchObject({ Tools: 'query, export_rows' });
    expect(buttons(event)).toEqual({ Approve: SLACK_ACTION_IDS.approve, Deny: SLACK_ACTION_IDS.deny, 'Open in the console': 'url' });
    expect(
      builtOrRefused(() => {
        throw new TypeError('no');
      }),
    ).toEqual({ ok: false, retry: false, error: 'the message could not be built: no' });
  });
});
